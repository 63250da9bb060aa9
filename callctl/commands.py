"""The data commands: upload, calls, show, watch, profiles, redrive (same code for AWS and the local stack)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from callctl import render
from callctl.data import load_call, recent_calls
from callctl.subscription import TopicSubscription
from callctl.target import CallctlError, Target, use_functions_package

DEFAULT_RECORDINGS_PREFIX = "recordings/"  # the stack's default; used only when the stack does not say
PROFILES_PREFIX = "profiles/"
PREFIX_OUTPUT, SUFFIXES_OUTPUT = "RecordingsPrefix", "RecordingSuffixes"  # infra/names.py Output


# ---- upload -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadLayout:
    """Where an upload must go to start a call: the deployed stack's notification prefix and suffixes."""

    prefix: str
    suffixes: tuple[str, ...] | None  # None: unknown, not checked
    source: str  # "stack outputs" | "bucket notification configuration" | "default"


def upload_layout(target: Target) -> UploadLayout:
    """The stack outputs RecordingsPrefix / RecordingSuffixes; a stack deployed before they existed: the bucket's
    notification filters for start_call (what really triggers); failing that, the default `recordings/`."""
    outputs = target.outputs
    if outputs.get(PREFIX_OUTPUT):
        suffixes = tuple(s for s in outputs.get(SUFFIXES_OUTPUT, "").split(",") if s)
        return UploadLayout(_slash(outputs[PREFIX_OUTPUT]), suffixes or None, "stack outputs")
    bucket = target.output("RecordingsBucketName")
    function = outputs.get("StartCallFunctionName")
    try:
        config = target.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    except (ClientError, BotoCoreError):  # e.g. no s3:GetBucketNotification permission
        config = {}
    prefixes, suffixes, any_suffix = set(), [], False
    for entry in config.get("LambdaFunctionConfigurations", []):
        if function and not entry.get("LambdaFunctionArn", "").endswith(f":function:{function}"):
            continue
        rules = {r["Name"].lower(): r["Value"] for r in entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
        prefixes.add(rules.get("prefix", ""))
        suffixes.append(rules.get("suffix", ""))
        any_suffix = any_suffix or not rules.get("suffix")  # no suffix filter: every suffix triggers
    if len(prefixes) == 1 and (prefix := prefixes.pop()):
        known = None if any_suffix else tuple(dict.fromkeys(suffixes))
        return UploadLayout(_slash(prefix), known, "bucket notification configuration")
    return UploadLayout(DEFAULT_RECORDINGS_PREFIX, None, "default")


def _slash(prefix: str) -> str:
    return prefix.rstrip("/") + "/"


def upload(target: Target, console: Console, files: list[Path], profile: str | None,
           prefix: str | None = None) -> list[dict]:
    """Upload recordings under the stack's notification prefix (`prefix` overrides it); the profile goes into
    object metadata. A file of a type start_call does not accept (any case: `.WAV`, `.Mp3` are fine) is refused
    before anything is uploaded: it would only give a FAILED call."""
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise CallctlError(f"not a file: {', '.join(missing)}")
    if profile:
        use_functions_package()
        from call_analytics.errors import InvalidProfile
        from call_analytics.profiles.loader import check_name

        try:
            check_name(profile)
        except InvalidProfile as exc:
            raise CallctlError(str(exc)) from None
    use_functions_package()
    layout = upload_layout(target)
    if prefix is None:
        prefix = layout.prefix
        if layout.source == "default":
            console.print(f"[yellow]note:[/] stack {target.stack_name} does not say which prefix starts a call "
                          f"(no {PREFIX_OUTPUT} output, bucket notifications unreadable); using {prefix}")
    from call_analytics.recordings import AUDIO_EXTENSIONS

    # the stack's list (RecordingSuffixes) or, when it does not say, the Lambda package's own; compared in any case
    accepted = {s.lower() for s in (layout.suffixes or AUDIO_EXTENSIONS)}
    ignored = [Path(f).name for f in files if Path(f).suffix.lower() not in accepted]
    if ignored:
        raise CallctlError(f"{', '.join(ignored)}: not a recording file type of stack {target.stack_name} "
                           f"({' '.join(sorted(accepted))}, any case); such an upload would only fail")
    bucket, s3 = target.output("RecordingsBucketName"), target.client("s3")
    uploaded = []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as progress:
        for path in map(Path, files):
            key = f"{_slash(prefix) if prefix.strip('/') else ''}{path.name}"
            task = progress.add_task(path.name, total=path.stat().st_size)
            extra = {"Metadata": {"profile": profile}} if profile else {}
            try:
                s3.upload_file(str(path), bucket, key, ExtraArgs=extra,
                               Callback=lambda n, task=task: progress.advance(task, n))
                head = s3.head_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise CallctlError(f"upload of {path} failed: {exc}") from None
            from call_analytics.recordings import call_id_for

            call_id = call_id_for(bucket, key, head.get("VersionId"), head.get("ETag", "").strip('"'))
            uploaded.append({"file": str(path), "key": key, "version_id": head.get("VersionId"), "call_id": call_id,
                             "uploaded_at": time.monotonic()})
            console.print(f"uploaded [bold]{path.name}[/] -> s3://{bucket}/{key} as call {call_id}"
                          f"{' (profile ' + profile + ')' if profile else ''}")
    return uploaded


# ---- calls / show -----------------------------------------------------------------------------------
def calls(target: Target, console: Console, status: str | None, limit: int) -> None:
    with console.status("reading calls…"):
        rows = recent_calls(target, status, limit)
    console.print(render.calls_table(rows))


def show(target: Target, console: Console, call_id: str, as_json: bool = False) -> None:
    with console.status(f"reading call {call_id}…"):
        view = load_call(target, call_id)
    if as_json:
        console.print_json(json.dumps({"call": view.meta, "analyses": view.analyses}, default=str))
    else:
        render.print_call(console, view)


# ---- watch ------------------------------------------------------------------------------------------
def watch(target: Target, console: Console, duration: float | None = None, count: int | None = None,
          categories: list[str] | None = None) -> int:
    """Follow notifications through a temporary subscribed SQS queue; removed on exit (also on Ctrl+C).
    Stops after `duration` seconds or `count` notifications, whichever comes first; returns how many arrived.
    `categories`: only the calls in one of them (the filter policy of docs/data-model.md "Categories")."""
    topic = target.output("ResultsTopicArn")
    policy = {"categories": list(categories)} if categories else None
    with console.status("subscribing a temporary queue to the results topic…"):
        subscription = TopicSubscription(target.client("sns"), target.client("sqs"), topic, filter_policy=policy)
    received = 0
    limits = [f"{count} notification(s)" if count else "", f"{duration:g}s" if duration else ""]
    until = " or ".join(x for x in limits if x)
    console.print(f"watching {topic} ({'until ' + until + ', ' if until else ''}Ctrl+C to stop)")
    deadline = time.monotonic() + duration if duration else None
    try:
        while (deadline is None or time.monotonic() < deadline) and (not count or received < count):
            wait = 2 if deadline is None else max(0, min(2, math.ceil(deadline - time.monotonic())))
            wanted = min(10, count - received) if count else 10  # what is received is deleted from the queue
            for note in subscription.receive(wait_seconds=wait, max_messages=wanted):
                received += 1
                console.print(datetime.now().strftime("%H:%M:%S "), render.notification_renderable(note))
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("removing the temporary queue…"):
            subscription.close()
    console.print(f"{received} notification(s)")
    return received


# ---- profiles ---------------------------------------------------------------------------------------
def _parse_profile_file(path: Path):
    use_functions_package()
    from call_analytics.errors import InvalidProfile
    from call_analytics.profiles.model import parse_profile

    if not path.is_file():
        raise CallctlError(f"not a file: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CallctlError(f"{path}: not valid JSON: {exc}") from None
    try:
        return parse_profile(data, source=str(path))
    except InvalidProfile as exc:
        raise CallctlError(f"{path}: {exc}") from None


def _first_problem(message: str, source: str) -> str:
    """`profile SRC is invalid: a: x; b: y` -> `a: x (+1 more)`; other messages without the `profile SRC` lead."""
    _, sep, problems = message.partition(" is invalid: ")
    if sep:
        parts = problems.split("; ")
        return parts[0] + (f" (+{len(parts) - 1} more)" if len(parts) > 1 else "")
    return message.replace(f"profile {source} ", "", 1)


def profiles_list(target: Target | None, console: Console) -> int:
    """Every bundled and bucket profile, each validated as start_call loads it (the loader of the Lambda package:
    JSON, the profile model `profiles validate` uses, and the file name matching the declared name).
    Returns the number of invalid profiles (the CLI exits 1 if there are any)."""
    use_functions_package()
    from call_analytics.adapters.results_store import ResultsStore
    from call_analytics.errors import CallAnalyticsError, InvalidProfile
    from call_analytics.profiles.loader import ProfileLoader, bundled_profile_names, load_bundled

    table = Table(title="Analysis profiles")
    for column in ("name", "source", "status", "detail"):
        table.add_column(column)
    bucket_names: dict[str, tuple[str, str]] = {}  # name -> (s3 URL, last modified)
    loader = None
    if target is not None:
        bucket = target.output("RecordingsBucketName")
        s3 = target.client("s3")
        loader = ProfileLoader(ResultsStore(s3), bucket, PROFILES_PREFIX)
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PROFILES_PREFIX):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(PROFILES_PREFIX):]
                    if name.endswith(".json") and "/" not in name:  # the loader reads profiles/<name>.json only
                        bucket_names[name.removesuffix(".json")] = (f"s3://{bucket}/{obj['Key']}",
                                                                    f"{obj['LastModified']:%Y-%m-%d %H:%M}")
        except (ClientError, BotoCoreError) as exc:
            raise CallctlError(f"cannot list s3://{bucket}/{PROFILES_PREFIX}: {exc}") from None

    invalid = 0

    def status(load, source: str) -> tuple[str, str]:
        nonlocal invalid
        try:
            profile = load()
        except InvalidProfile as exc:
            invalid += 1
            return "[red]invalid[/]", escape(_first_problem(str(exc), source))
        except CallAnalyticsError as exc:  # an S3 read problem (ResultsStore translates them)
            invalid += 1
            return "[red]unreadable[/]", escape(str(exc))
        return "[green]valid[/]", f"analyses: {', '.join(profile.enabled_analyses())}"

    for name in bundled_profile_names():
        state, detail = status(lambda name=name: load_bundled(name), f"bundled {name}.json")
        if name in bucket_names:
            detail = f"overridden by the bucket copy; {detail}"
        table.add_row(name, "bundled", state, detail)
    for name, (url, modified) in sorted(bucket_names.items()):
        state, detail = status(lambda name=name: loader.load(name), url)
        table.add_row(escape(name), "bucket", state, f"{escape(url)} ({modified}): {detail}")
    console.print(table)
    if invalid:
        console.print(f"[red]{invalid} invalid profile(s)[/]: uploads that choose one fail with InvalidProfile")
    return invalid


def profiles_validate(console: Console, path: Path) -> None:
    profile = _parse_profile_file(path)
    console.print(f"[green]valid[/]: profile {profile.name!r} — analyses: {', '.join(profile.enabled_analyses())}")


def profiles_push(target: Target, console: Console, path: Path, name: str | None) -> None:
    profile = _parse_profile_file(path)
    name = name or profile.name
    use_functions_package()
    from call_analytics.errors import InvalidProfile
    from call_analytics.profiles.loader import check_name

    try:
        check_name(name)
    except InvalidProfile as exc:
        raise CallctlError(str(exc)) from None
    bucket = target.output("RecordingsBucketName")
    key = f"{PROFILES_PREFIX}{name}.json"
    target.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/json")
    console.print(f"pushed profile {name!r} -> s3://{bucket}/{key} (used by uploads with metadata profile={name})")


# ---- live -----------------------------------------------------------------------------------------
def live(target: Target, console: Console, **options) -> int:
    """Stream one call through the edge client (callctl/live.py), then show what the stack stored for it."""
    from callctl import live as live_path

    run = live_path.live(target, console, **options)
    stored = live_path.wait_for_live_insights(target, run.call_id, timeout=30)
    console.rule(f"live call {run.call_id}: {len(stored)} live insight(s) stored")
    if stored:
        console.print(render.live_table(stored))
    if options.get("upload", True):
        console.print(f"the recording joins the same call record once processed: callctl show {run.call_id}")
    return run.exit_code


# ---- recompute ------------------------------------------------------------------------------------
def recompute(target: Target, console: Console, call_ids: list[str], every: bool) -> list[dict]:
    """Roles, metrics and categories again from stored transcripts with the current profile
    (functions/call_analytics/logic/recompute.py); calls whose category questions were never answered by the LLM
    are re-driven (their analyses run again from the stored transcript)."""
    if not call_ids and not every:
        raise CallctlError("name a call id, or pass --all")
    use_functions_package()
    from call_analytics.adapters.calls_table import CallsTable
    from call_analytics.adapters.results_store import ResultsStore
    from call_analytics.logic.recompute import RecomputeDeps, recompute_call, recompute_finished
    from call_analytics.profiles.loader import ProfileLoader

    bucket = target.output("RecordingsBucketName")
    start_env = target.client("lambda").get_function_configuration(
        FunctionName=target.output("StartCallFunctionName")).get("Environment", {}).get("Variables", {})
    store = ResultsStore(target.client("s3"))
    deps = RecomputeDeps(calls=CallsTable(target.output("CallsTableName"), target.client("dynamodb")), store=store,
                         profiles=ProfileLoader(store, bucket, start_env.get("PROFILES_PREFIX", "profiles/")),
                         bucket=bucket, results_prefix=start_env.get("RESULTS_PREFIX", "results/"))
    try:
        with console.status("recomputing…"), quiet_function_logs():
            results = recompute_finished(deps) if every else [
                recompute_call(c if c.startswith("c-") else f"c-{c}", deps) for c in call_ids]
    except (ClientError, BotoCoreError) as exc:
        raise CallctlError(f"recompute failed: {exc}") from None
    for result in results:
        if result.outcome == "recomputed":
            change = " (changed)" if result.changed else ""
            console.print(f"[green]recomputed[/] {result.call_id}: categories "
                          f"{', '.join(result.categories) or 'none'}{change}")
        elif result.outcome == "skipped":
            console.print(f"[yellow]skipped[/] {result.call_id}: {escape(result.reason or '')}")
    needs_llm = [r.call_id for r in results if r.outcome == "needs_llm"]
    if needs_llm:
        console.print(f"{len(needs_llm)} call(s) need the LLM for new category questions: re-driving them "
                      "(analyses again from the stored transcript, no new transcription)")
        redrive(target, console, needs_llm, failed=False)
    if not results:
        console.print("no finished calls")
    return [asdict(r) for r in results]


# ---- redrive ----------------------------------------------------------------------------------------
def redrive(target: Target, console: Console, call_ids: list[str], failed: bool, force: bool = False,
            limit: int = 100) -> list[dict]:
    """Re-run calls in new executions `<call_id>-r<n>` through the Lambda package's re-drive logic
    (functions/call_analytics/logic/redrive.py: reuses a completed transcript, re-reads the profile)."""
    if not call_ids and not failed:
        raise CallctlError("name a call id, or pass --failed")
    use_functions_package()
    from call_analytics.logic.redrive import RedriveDeps, redrive_call, redrive_failed

    # The deployment's own defaults (a never-started call is re-driven with the profile start_call would pick).
    start_env = target.client("lambda").get_function_configuration(
        FunctionName=target.output("StartCallFunctionName")).get("Environment", {}).get("Variables", {})
    deps = RedriveDeps.from_clients(
        dynamodb=target.client("dynamodb"), s3=target.client("s3"), stepfunctions=target.client("stepfunctions"),
        calls_table=target.output("CallsTableName"), bucket=target.output("RecordingsBucketName"),
        state_machine_arn=target.output("StateMachineArn"),
        results_prefix=start_env.get("RESULTS_PREFIX", "results/"),
        profiles_prefix=start_env.get("PROFILES_PREFIX", "profiles/"),
        default_profile=start_env.get("DEFAULT_PROFILE", "default"))
    try:
        with console.status("starting re-drives…"), quiet_function_logs():
            results = redrive_failed(deps, limit=limit, force=force) if failed else [
                redrive_call(c if c.startswith("c-") else f"c-{c}", deps, force=force) for c in call_ids]
    except (ClientError, BotoCoreError) as exc:
        raise CallctlError(f"re-drive failed: {exc}") from None
    if not results:
        console.print("no FAILED calls")
    for result in results:
        if result.outcome == "started":
            how = "transcribing again" if result.resubmit else "reusing the transcript"
            console.print(f"[green]started[/] {result.call_id} as {result.execution_name} ({how})")
        else:
            console.print(f"[yellow]skipped[/] {result.call_id}: {escape(result.reason or '')}")
    hopeless = [r for r in results if r.outcome == "skipped" and (r.reason or "").startswith("failed for good")]
    if hopeless:
        console.print(f"{len(hopeless)} call(s) failed for good (their recording is the problem): not re-driven; "
                      "--force re-drives them anyway (each is transcribed and paid for again)")
    return [r.model_dump(mode="json") for r in results]


@contextmanager
def quiet_function_logs() -> Iterator[None]:
    """The Lambda package's loggers (Powertools JSON lines) stay silent while the CLI runs its logic: the CLI
    reports what happened itself, and stderr/stdout carry no stray log lines."""
    from call_analytics.observability import logger

    package = logging.getLogger("call_analytics")
    saved = (logger.log_level, package.level)
    logger.setLevel(logging.CRITICAL)  # the package logs nothing at CRITICAL; Powertools takes standard levels only
    package.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        package.setLevel(saved[1])
