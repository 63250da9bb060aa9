"""The data commands: upload, calls, show, watch, profiles, redrive (same code for AWS and the local stack)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from callctl import render
from callctl.data import load_call, recent_calls
from callctl.subscription import TopicSubscription
from callctl.target import CallctlError, Target, use_functions_package

RECORDINGS_PREFIX = "recordings/"
PROFILES_PREFIX = "profiles/"


# ---- upload -----------------------------------------------------------------------------------------
def upload(target: Target, console: Console, files: list[Path], profile: str | None,
           prefix: str = RECORDINGS_PREFIX) -> list[dict]:
    """Upload recordings under the notification prefix; the profile goes into object metadata."""
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
    bucket, s3 = target.output("RecordingsBucketName"), target.client("s3")
    uploaded = []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as progress:
        for path in map(Path, files):
            key = f"{prefix.rstrip('/')}/{path.name}"
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
def watch(target: Target, console: Console, duration: float | None = None) -> int:
    """Follow notifications through a temporary subscribed SQS queue; removed on exit (also on Ctrl+C)."""
    topic = target.output("ResultsTopicArn")
    with console.status("subscribing a temporary queue to the results topic…"):
        subscription = TopicSubscription(target.client("sns"), target.client("sqs"), topic)
    count = 0
    console.print(f"watching {topic} (Ctrl+C to stop)")
    deadline = time.monotonic() + duration if duration else None
    try:
        while deadline is None or time.monotonic() < deadline:
            for note in subscription.receive(wait_seconds=2):
                count += 1
                console.print(datetime.now().strftime("%H:%M:%S "), render.notification_renderable(note))
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("removing the temporary queue…"):
            subscription.close()
    console.print(f"{count} notification(s)")
    return count


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


def profiles_list(target: Target | None, console: Console) -> None:
    use_functions_package()
    from call_analytics.profiles.loader import bundled_profile_names

    table = Table(title="Analysis profiles")
    table.add_column("name")
    table.add_column("source")
    table.add_column("detail")
    bucket_names: dict[str, str] = {}
    if target is not None:
        bucket = target.output("RecordingsBucketName")
        paginator = target.client("s3").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=PROFILES_PREFIX):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".json"):
                    modified = f"{obj['LastModified']:%Y-%m-%d %H:%M}"
                    bucket_names[Path(obj["Key"]).stem] = f"s3://{bucket}/{obj['Key']} ({modified})"
    for name in bundled_profile_names():
        table.add_row(name, "bundled", "overridden by the bucket copy" if name in bucket_names else "")
    for name, where in sorted(bucket_names.items()):
        table.add_row(name, "bucket", where)
    console.print(table)


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
        with console.status("starting re-drives…"):
            results = redrive_failed(deps, limit=limit) if failed else [
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
            console.print(f"[yellow]skipped[/] {result.call_id}: {result.reason}")
    return [r.model_dump(mode="json") for r in results]
