"""`python -m callctl COMMAND`: the same commands against AWS or the local stack (see callctl/target.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from callctl.target import CallctlError, resolve_target

LAMBDA_MODES = ("subprocess", "inprocess")


def _target(args):
    return resolve_target(local=args.local, aws=args.aws, stack=args.stack, region=args.region)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m callctl", description="Call analytics: operate the pipeline "
                                     "on AWS or on the local stack.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the local stack (`callctl up`, or CALLCTL_ENDPOINT_URL)")
    where.add_argument("--aws", action="store_true", help="AWS (default credentials) even if a local stack runs")
    parser.add_argument("--stack", help="stack name (default: CALLCTL_STACK, the local state file, CallAnalytics)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / your profile)")
    sub = parser.add_subparsers(dest="command", required=True)

    def local_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=None, help="local AWS port (default 4566 if free, else any free)")
        p.add_argument("--assemblyai-port", type=int, default=None,
                       help="local AssemblyAI server port (default 8765 if free)")
        p.add_argument("--lambda-mode", choices=LAMBDA_MODES, default="subprocess",
                       help="subprocess: a fresh interpreter per invocation (isolated, like Lambda); "
                            "inprocess: faster, shared process")
        p.add_argument("--wait-scale", type=float, default=1.0,
                       help="multiply Step Functions Wait/Retry and async-retry delays (default 1 = real time)")

    p = sub.add_parser("up", help="run the local stack in the foreground until Ctrl+C (its data is kept for the "
                                  "next run)")
    local_options(p)
    p.add_argument("--fresh", action="store_true", help="start empty: discard the data kept from the last run")
    p = sub.add_parser("demo", help="the whole pipeline on this machine with the sample calls")
    local_options(p)
    p.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    p.add_argument("files", nargs="*", type=Path, help="recordings to use instead of the generated samples")

    p = sub.add_parser("upload", help="upload recordings under the stack's recordings prefix (output RecordingsPrefix; "
                                      "recordings/ by default); a suffix that would not start a call is refused")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--profile", help="analysis profile (stored as object metadata `profile`)")
    p = sub.add_parser("calls", help="recent calls (GSI by_status)")
    p.add_argument("--status", help="RECEIVED|QUEUED|TRANSCRIBING|ANALYZING|COMPLETED|PARTIAL|FAILED (default: all)")
    p.add_argument("--limit", type=int, default=20)
    p = sub.add_parser("show", help="one call's results")
    p.add_argument("call_id")
    p.add_argument("--json", action="store_true", help="raw records instead of the rendering")
    p = sub.add_parser("watch", help="follow notifications live (temporary SQS queue on the topic)",
                       description="Follow notifications live. With --count, exits 0 once N have arrived, 1 if "
                                   "--duration ran out first (for scripts: `watch --count 1 --duration 600`).")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--count", type=int, default=None, help="stop after this many notifications")
    p.add_argument("--category", action="append", default=None, metavar="NAME",
                   help="only calls in this category (repeatable: any of them); an SNS filter policy on the "
                        "`categories` message attribute, as a subscriber's alert would use")
    p = sub.add_parser("profiles", help="list (validated), validate or push analysis profiles",
                       description="list: the bundled and bucket profiles, each validated as start_call loads it; "
                                   "exits 1 if any is invalid. validate FILE: exits 2 if the file is invalid. "
                                   "push FILE: validates, then stores it under profiles/.")
    p.add_argument("action", nargs="?", choices=("list", "validate", "push"), default="list")
    p.add_argument("file", nargs="?", type=Path)
    p.add_argument("--name", help="push under this name (default: the profile's name)")
    p = sub.add_parser("live", help="stream a call live through the edge client (live insights -> the stack)",
                       description="Runs python -m edge_client against the stack's live path: its live-insights "
                                   "topic and recordings bucket (stack outputs) and, on the local stack, its "
                                   "AssemblyAI server. Then shows the live insights the stack stored; the uploaded "
                                   "recording joins the same call record (callctl show CALL_ID).")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--source", type=Path, help="stream this WAV file instead of the microphone")
    source.add_argument("--device", help="microphone: index or part of its name (default: the system default)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="--source pace: 1 = real time (the real service's rule); the local stack accepts more")
    p.add_argument("--agent-id", default="callctl-live")
    p.add_argument("--profile", default="default", help="analysis profile of the uploaded recording")
    p.add_argument("--no-upload", action="store_true", help="keep the recording on this machine")
    p.add_argument("--api-url", help="streaming URL (default: the local server, or AssemblyAI's)")
    p = sub.add_parser("redrive", help="re-run failed calls (or re-analyse a call) from the stored transcript")
    p.add_argument("call_ids", nargs="*")
    p.add_argument("--failed", action="store_true", help="all FAILED calls (newest 100)")
    p.add_argument("--recompute", action="store_true",
                   help="recompute roles, conversation metrics and categories of finished calls (the named ones, "
                        "or with --all every COMPLETED/PARTIAL call) from the stored transcript and the current "
                        "profile: no transcription; an LLM request only for category questions never answered")
    p.add_argument("--all", action="store_true", help="with --recompute: every finished call (newest 1000)")
    p.add_argument("--force", action="store_true",
                   help="also calls that look in progress (stopped executions), and with --failed also those that "
                        "failed for good (not audio, too short, empty, unsupported type: transcribed and paid again)")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "up":
            from callctl.local import up

            return up(console, args.port, args.lambda_mode, args.wait_scale, args.assemblyai_port, args.fresh)
        if args.command == "demo":
            from callctl.local import demo

            return demo(console, args.lambda_mode, args.wait_scale, args.timeout, args.port, args.assemblyai_port,
                        args.files or None)
        from callctl import commands

        if args.command == "profiles":
            if args.action == "validate":
                if not args.file:
                    raise CallctlError("profiles validate FILE")
                commands.profiles_validate(console, args.file)
                return 0
            if args.action == "push":
                if not args.file:
                    raise CallctlError("profiles push FILE")
                commands.profiles_push(_target(args), console, args.file, args.name)
                return 0
            return 1 if commands.profiles_list(_target(args), console) else 0
        target = _target(args)
        if args.command == "upload":
            commands.upload(target, console, args.files, args.profile)
        elif args.command == "calls":
            commands.calls(target, console, args.status, args.limit)
        elif args.command == "show":
            commands.show(target, console, args.call_id, args.json)
        elif args.command == "watch":
            if args.count is not None and args.count < 1:
                raise CallctlError("--count must be at least 1")
            received = commands.watch(target, console, args.duration, args.count, categories=args.category)
            if args.count and received < args.count:
                return 1
        elif args.command == "live":
            return commands.live(target, console, source=args.source, device=args.device, speed=args.speed,
                                 agent_id=args.agent_id, profile=args.profile, upload=not args.no_upload,
                                 api_url=args.api_url)
        elif args.command == "redrive":
            if args.recompute:
                commands.recompute(target, console, args.call_ids, args.all)
            else:
                commands.redrive(target, console, args.call_ids, args.failed, args.force)
        return 0
    except CallctlError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
