"""`python -m bench [--smoke] [--json FILE] [--only ROW ...]`: run the row modules and print one table.

Exit code 0 whenever the table is printed, whatever the timings; 1 only if a row module crashed (a bug,
shown as `error:` in its row) and 2 for bad arguments. Rows that cannot run here print `n/a: <reason>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time
import traceback
from pathlib import Path

from bench.core import DEFAULT_WORK_DIR, Context, Row, Unavailable, machine_description, render_table, write_json
from bench.rows import ROW_MODULES, load_row_module


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks: the seeds' approach vs ours, "
                                "side by side, as ratios (docs/benchmarks.md)")
    p.add_argument("--smoke", action="store_true", help="fast subset: shortest sample call, short clips, the "
                   "local stack only for the reliability row's 2 uploads")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--only", nargs="+", choices=sorted(ROW_MODULES), metavar="ROW",
                   help=f"run only these row modules ({', '.join(ROW_MODULES)})")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="samples, STT cache, logs")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    g = p.add_argument_group("cold start (row 2)")
    g.add_argument("--import-repeats", type=int, default=None, help="fresh interpreters per module (best of N)")
    g = p.add_argument_group("polling model (row 3)")
    g.add_argument("--queue-seconds", type=float, default=5.0, help="modelled AssemblyAI queue time")
    g.add_argument("--processing-fraction", type=float, default=0.2,
                   help="modelled AssemblyAI processing time as a fraction of the audio duration")
    g = p.add_argument_group("local stack (row 5)")
    g.add_argument("--burst-n", type=int, default=100, help="uploads in the burst (0: overhead row only)")
    g.add_argument("--burst-rate", type=int, default=30, help="gateway limit R, requests per minute per model")
    g.add_argument("--burst-concurrency", type=int, default=5, help="transcription concurrency C")
    g.add_argument("--wait-scale", type=float, default=1.0,
                   help="local stack: scale of Step Functions Wait/Retry delays and of the seeds' 3 s sleep "
                        "(default 1 = real time: the server's 60 s rate window cannot be scaled)")
    g.add_argument("--lambda-mode", choices=("inprocess", "subprocess"), default="inprocess",
                   help="local Lambda runtime (inprocess: light on a small machine; subprocess: closer to AWS)")
    g.add_argument("--min-processing", type=float, default=12.0,
                   help="P: the local server holds every transcription at least this long in the burst (its STT "
                        "cache would otherwise make it ~0); the overhead row spreads it over one 3 s period")
    g.add_argument("--stack-timeout", type=float, default=3600, help="give up on the burst after this many s")
    g.add_argument("--completion-webhook", action="store_true",
                   help="deploy ours with completion_webhook=true: AssemblyAI's webhook ends the poll wait")
    g = p.add_argument_group("reliability (row 7)")
    g.add_argument("--reliability-n", type=int, default=None, help="uploads in the fault storm (default 10, smoke 2)")
    g.add_argument("--reliability-wait-scale", type=float, default=None,
                   help="local stack wait scale during the storm (default 0.05, smoke 0.02)")
    g = p.add_argument_group("edge client (row 5)")
    g.add_argument("--edge-seconds", type=float, default=None, help="paced session length (default 120, smoke 0)")
    g.add_argument("--streaming-seconds", type=float, default=None,
                   help="streaming cost row: session length (default 3600, smoke 120)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (kill, timeout) unwinds like Ctrl+C, so the servers and stacks a row started are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    ctx = Context(smoke=args.smoke, options=args, work_dir=args.work_dir)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = machine_description()["load_avg_1m"]
    rows: list[Row] = []
    crashed = False
    with ctx.cleanup:
        for key in args.only or list(ROW_MODULES):
            t0 = time.monotonic()
            try:
                module = load_row_module(key)
            except Unavailable as exc:
                rows.append(Row.na(ROW_MODULES[key], str(exc)))
                continue
            if ctx.smoke and not getattr(module, "IN_SMOKE", True):
                rows.append(Row.na(module.TITLE, "not in --smoke (run `python -m bench`)", status="skipped"))
                continue
            ctx.log(f"row module {key}: {module.TITLE}")
            try:
                rows += module.run(ctx)
            except Unavailable as exc:
                rows.append(Row.na(module.TITLE, str(exc)))
            except ModuleNotFoundError as exc:  # a part of the system or a package is not there (yet)
                rows.append(Row.na(module.TITLE, f"needs the module {exc.name!r} ({exc})"))
            except Exception as exc:  # a bug: show it in the table, keep going, exit 1
                crashed = True
                traceback.print_exc(file=sys.stderr)
                rows.append(Row.na(module.TITLE, f"{type(exc).__name__}: {exc}", status="error"))
            ctx.log(f"row module {key} done in {time.monotonic() - t0:.1f}s")
    meta = {"date": started_at.isoformat(timespec="seconds"), "mode": "smoke" if args.smoke else "full",
            "seconds": round(time.monotonic() - ctx.started, 1), **machine_description(),
            "load_avg_1m_at_start": load_at_start}
    print(f"# bench ({meta['mode']}) {meta['date']} | {meta['cpus']} CPUs, load avg {load_at_start} at start, "
          f"{meta['load_avg_1m']} at end | "
          f"Python {meta['python']} | {meta['seconds']} s")
    print(render_table(rows))
    if args.json:
        write_json(args.json, rows, meta)
    return 1 if crashed else 0
