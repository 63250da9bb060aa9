"""`callctl up` (the local stack in the foreground) and `callctl demo` (the whole pipeline, end to end)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from callctl import render
from callctl.commands import upload
from callctl.data import TERMINAL, CallView, calls_table, load_call
from callctl.subscription import Notification, TopicSubscription
from callctl.target import REPO_ROOT, CallctlError, Target
from local_aws import persistence
from local_aws.assemblyai import port_is_free
from local_aws.stack import LocalStack, LocalStackOptions

DEFAULT_AWS_PORT = 4566
SAMPLES_DIR = REPO_ROOT / ".cache" / "samples"


def _raise_keyboard_interrupt(*_args) -> None:
    raise KeyboardInterrupt


def start_stack(console: Console, options: LocalStackOptions) -> LocalStack:
    stack = LocalStack(options)
    with console.status("starting…") as status:
        stack.progress = lambda message: status.update(f"{message}…")
        stack.start()
    t = stack.timings
    console.print(f"local stack ready: synth {t.synth_s:.1f}s{' (cached)' if t.synth_cached else ''}, "
                  f"AssemblyAI server {t.assemblyai_start_s:.1f}s, local AWS {t.aws_start_s:.1f}s, "
                  f"cdk bootstrap {t.bootstrap_s:.1f}s, cdk deploy {t.deploy_s:.1f}s")
    return stack


def stack_options(port: int | None, lambda_mode: str, wait_scale: float, aai_port: int | None,
                  persist: bool = False) -> LocalStackOptions:
    if port is None:
        port = DEFAULT_AWS_PORT if port_is_free(DEFAULT_AWS_PORT) else 0
    return LocalStackOptions(aws_port=port, lambda_mode=lambda_mode, wait_scale=wait_scale, assemblyai_port=aai_port,
                             persist=persist)


def target_of(stack: LocalStack) -> Target:
    state = {"assemblyai_base_url": stack.assemblyai.base_url} if stack.assemblyai is not None else {}
    return Target("local", "us-east-1", stack.stack_name, stack.endpoint_url, state=state,
                  _outputs=dict(stack.outputs))


# ---- up ---------------------------------------------------------------------------------------------
def up(console: Console, port: int | None, lambda_mode: str, wait_scale: float, aai_port: int | None,
       fresh: bool = False) -> int:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    options = stack_options(port, lambda_mode, wait_scale, aai_port, persist=True)
    if fresh:
        persistence.discard(options.work_dir)
    stack = start_stack(console, options)
    if stack.restored is not None:
        console.print(f"restored the last run's data: {stack.restored.describe()}")
    try:
        table = Table(title=f"stack {stack.stack_name}", show_header=False)
        table.add_row("AWS endpoint", stack.endpoint_url)
        if stack.real_assemblyai:
            table.add_row("AssemblyAI", "the real service (ASSEMBLYAI_API_KEY), audio_delivery=upload")
        else:
            table.add_row("AssemblyAI (local)", stack.assemblyai.base_url)
        table.add_row("Lambda", f"{lambda_mode}, logs: {stack.aws.lambda_log_path}")
        table.add_row("wait scale", f"{wait_scale:g}" + (" (real time)" if wait_scale == 1 else ""))
        for key, value in stack.outputs.items():
            table.add_row(key, value)
        console.print(table)
        console.print("\n# use it from another shell (callctl finds it through the state file):")
        console.print(f"export AWS_ENDPOINT_URL={stack.endpoint_url} AWS_DEFAULT_REGION=us-east-1 "
                      "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local")
        console.print("python -m callctl upload call.wav && python -m callctl calls && python -m callctl watch")
        console.print("\n[bold]running; Ctrl+C stops everything[/]")
        while True:
            if not stack.aws.alive():
                raise CallctlError(f"the local AWS process exited; see {stack.aws.log_path}")
            if stack.assemblyai and stack.assemblyai.proc and stack.assemblyai.proc.poll() is not None:
                raise CallctlError("the local AssemblyAI server exited; see its log in .cache/local-stack")
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()
    if stack.saved is not None:
        console.print(f"saved the data for the next `callctl up` ({stack.saved.describe()}; --fresh discards it)")
    console.print("stopped; nothing left running")
    return 0


# ---- demo -------------------------------------------------------------------------------------------
def generate_samples(console: Console, out_dir: Path = SAMPLES_DIR) -> list[Path]:
    with console.status("generating the sample calls (cached after the first run)…"):
        proc = subprocess.run([sys.executable, "-m", "samples.generate", "--out", str(out_dir)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise CallctlError(f"sample generation failed: {proc.stderr.strip()[-2000:]}")
    from samples.generate import available_scripts

    # the bundled scripts' calls only (tests and benchmarks synthesize other calls into the same cache)
    files = sorted(out_dir / call_id / "mono.wav" for call_id in available_scripts()
                   if (out_dir / call_id / "mono.wav").exists())
    if not files:
        raise CallctlError(f"no sample calls in {out_dir}")
    return files


def _progress_table(rows: list[dict], views: dict[str, CallView | None], finished: dict[str, float]) -> Table:
    table = Table(title="calls in flight")
    for column in ("call", "recording", "status", "elapsed"):
        table.add_column(column)
    now = time.monotonic()
    for row in rows:
        view = views.get(row["call_id"])
        status = view.status if view else "uploaded"
        elapsed = finished.get(row["call_id"], now) - row["uploaded_at"]
        table.add_row(row["call_id"], row["key"], render.status_text(status), f"{elapsed:5.1f}s")
    return table


def track(console: Console, target: Target, rows: list[dict], subscription: TopicSubscription,
          timeout: float) -> tuple[dict[str, CallView], list[Notification], dict[str, float]]:
    """Live table until every call is terminal and announced (or `timeout`)."""
    table = calls_table(target)
    views: dict[str, CallView | None] = {}
    finished: dict[str, float] = {}
    notes: list[Notification] = []
    deadline = time.monotonic() + timeout
    with Live(_progress_table(rows, views, finished), console=console, refresh_per_second=4) as live:
        while True:
            for row in rows:
                if row["call_id"] in finished:
                    continue
                meta = table.get_call(row["call_id"])
                views[row["call_id"]] = CallView(meta) if meta else None
                if meta and meta.get("status") in TERMINAL:
                    finished[row["call_id"]] = time.monotonic()
            notes += subscription.receive(wait_seconds=1)
            live.update(_progress_table(rows, views, finished))
            announced = {n.call_id for n in notes}
            if len(finished) == len(rows) and all(r["call_id"] in announced for r in rows):
                break
            if time.monotonic() > deadline:
                console.print(f"[red]timed out after {timeout:g}s[/]")
                break
    return {r["call_id"]: load_call(target, r["call_id"]) for r in rows if views.get(r["call_id"])}, notes, finished


def demo(console: Console, lambda_mode: str, wait_scale: float, timeout: float, port: int | None,
         aai_port: int | None, files: list[Path] | None = None) -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    live_sample = None if files else True  # the live part streams a bundled sample: only in the default demo
    files = files or generate_samples(console)
    stack = start_stack(console, stack_options(port, lambda_mode, wait_scale, aai_port))
    subscription = None
    try:
        target = target_of(stack)
        subscription = TopicSubscription(stack.client("sns"), stack.client("sqs"), stack.outputs["ResultsTopicArn"],
                                         "callctl-demo")
        console.print(f"subscribed an SQS queue to {stack.outputs['ResultsTopicArn']}")
        rows = []
        for path in files:
            name = path.parent.name if path.name == "mono.wav" else path.stem
            rows += _upload_as(target, console, path, f"{name}{path.suffix}")
        views, notes, finished = track(console, target, rows, subscription, timeout)
        for row in rows:
            view = views.get(row["call_id"])
            console.rule(f"{row['key']}")
            if view is None:
                console.print("[red]no call record was written[/]")
                continue
            render.print_call(console, view)
        console.rule("SNS notifications received through the SQS subscription")
        for note in notes:
            console.print(render.notification_renderable(note))
        completed = [r for r in rows if views.get(r["call_id"]) and views[r["call_id"]].status == "COMPLETED"]
        latencies = [finished[r["call_id"]] - r["uploaded_at"] for r in rows if r["call_id"] in finished]
        if live_sample:
            live_line, live_ok = demo_live(console, target, min(files, key=lambda p: p.stat().st_size), timeout)
        else:
            live_line, live_ok = "live call: not streamed (the demo was given its own files)", True
        console.rule("summary")
        console.print(f"{len(completed)}/{len(rows)} calls COMPLETED, {len(notes)} notification(s); "
                      f"upload→terminal {min(latencies, default=0):.1f}–{max(latencies, default=0):.1f}s; "
                      f"demo {time.monotonic() - started:.1f}s (lambda {lambda_mode}, wait scale {wait_scale:g})")
        console.print(live_line)
        return 0 if len(completed) == len(rows) and live_ok else 1
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    finally:
        if subscription is not None:
            try:
                subscription.close()
            except Exception:  # the local AWS is going away anyway
                pass
        stack.stop()


#: the demo streams its live call at the edge client's catch-up rate (the local stack's server allows it)
DEMO_LIVE_SPEED = 2.0


def demo_live(console: Console, target: Target, recording: Path, timeout: float) -> tuple[str, bool]:
    """The live path: one sample call streamed through the edge client, its live insights as the stack stored
    them, then the same call record once its uploaded recording went through the batch pipeline."""
    from callctl.live import live, wait_for_live_insights

    console.rule(f"live: {recording.parent.name} streamed through the edge client ({DEMO_LIVE_SPEED:g}x)")
    started = time.monotonic()
    run = live(target, console, source=recording, speed=DEMO_LIVE_SPEED, agent_id="demo-agent",
               data_dir=Path(tempfile.mkdtemp(prefix="callctl-demo-edge-")))
    streamed = time.monotonic() - started
    insights = wait_for_live_insights(target, run.call_id, timeout=30)
    console.print(render.live_table(insights))
    deadline = time.monotonic() + timeout
    try:
        view = load_call(target, run.call_id)
        while view.status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(1)
            view = load_call(target, run.call_id)
    except CallctlError as exc:  # no record at all: nothing arrived from the live session
        return f"live call {run.call_id}: FAILED ({exc}); edge client exit {run.exit_code}", False
    console.rule(f"the live call after its recording was uploaded: {run.call_id}")
    render.print_call(console, view)
    ok = run.exit_code == 0 and bool(insights) and view.status == "COMPLETED"
    return (f"live call {run.call_id}: streamed in {streamed:.0f}s, {len(insights)} live insight(s) stored, "
            f"joined record {view.status} with {len(view.analyses)} analysis item(s)"), ok


def _upload_as(target: Target, console: Console, path: Path, name: str) -> list[dict]:
    """Upload `path` as <recordings prefix><name> (the samples are all called mono.wav)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / name
        try:
            os.link(path, copy)
        except OSError:
            shutil.copyfile(path, copy)
        return upload(target, console, [copy], profile=None)
