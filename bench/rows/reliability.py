"""Row 7: reliability under a fault storm. A burst of uploads to the local stack (the real template, handlers and
local AssemblyAI server) while the local server injects 429s with Retry-After, 5xx bursts, timeouts (answers
held past the client's read timeout after the request was handled) and spoiled LLM answers (garbage, truncated,
refusal); then the storm stops and the calls get a bounded time to finish.

Reported, honestly, whatever the system does: calls lost (an upload with no call record), stuck (a record that
is not terminal when the row stops waiting) or silent (terminal, never announced on the topic); secrets leaked
(the API key found in any DynamoDB item, SNS message received, S3 result object, Step Functions execution
history or the local AWS / Lambda logs); how many calls COMPLETED after the storm, and the PARTIAL / FAILED
counts with their reasons. Step Functions waits (and Retry-After waits in Wait states) run at --wait-scale
(default here 0.05) so a long outage fits the row's time; Lambda and HTTP timeouts are real time.

No seeds' column: the seeds' script has no retry at all (any 429/5xx/timeout fails its call), so there is
nothing to measure.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.core import Context, Row, Unavailable
from bench.corpus import sample_calls
from bench.functions_code import use_functions

TITLE = "reliability under a fault storm"
IN_SMOKE = True
#: the Lambdas' REST read timeout is 30 s (functions/call_analytics/adapters/assemblyai.py): held longer = a timeout
TIMEOUT_HOLD_MS = 35_000


@dataclass(frozen=True)
class StormPlan:
    uploads: int
    storm_seconds: float     # faults active from the first upload at most this long (less once all are spent
    #                          or every call has ended)
    settle_seconds: float    # then at most this long for the calls to end
    wait_scale: float
    rules: tuple[dict[str, Any], ...]


def storm_rules(smoke: bool) -> tuple[dict[str, Any], ...]:
    """The fault plan of the local AssemblyAI server (docs/local-assemblyai.md "Fault rules"); seeded."""
    if smoke:  # one of each kind, cheap
        return (
            {"id": "transcript-429", "group": "transcript", "action": "429", "retry_after": 5, "next_n": 1},
            {"id": "transcript-5xx", "group": "transcript", "action": "5xx", "status": 503, "next_n": 2},
            {"id": "llm-5xx", "group": "llm", "action": "5xx", "status": 500, "next_n": 1},
            {"id": "llm-garbage", "group": "llm", "action": "garbage", "next_n": 1, "seed": 1},
        )
    return (
        # a 5xx burst on everything first (submits and polls), then sporadic ones
        {"id": "burst-5xx", "group": "transcript", "action": "5xx", "status": 503, "next_n": 12},
        {"id": "transcript-429", "group": "transcript", "action": "429", "retry_after": 30, "probability": 0.25,
         "seed": 11},
        {"id": "transcript-5xx", "group": "transcript", "action": "5xx", "status": 502, "probability": 0.15,
         "seed": 12},
        # the submit went through, the answer did not (the job exists); a poll answered too late
        {"id": "submit-lost", "group": "transcript", "action": "latency", "stage": "response",
         "latency_ms": TIMEOUT_HOLD_MS, "method": "POST", "next_n": 2},
        {"id": "poll-timeout", "group": "transcript", "action": "latency", "stage": "response",
         "latency_ms": TIMEOUT_HOLD_MS, "method": "GET", "next_n": 2},
        {"id": "llm-429", "group": "llm", "action": "429", "retry_after": 20, "probability": 0.25, "seed": 21},
        {"id": "llm-5xx", "group": "llm", "action": "5xx", "status": 500, "probability": 0.2, "seed": 22},
        {"id": "llm-garbage", "group": "llm", "action": "garbage", "probability": 0.3, "seed": 23},
        {"id": "llm-truncated", "group": "llm", "action": "truncated", "next_n": 2},
        {"id": "llm-refusal", "group": "llm", "action": "refusal", "next_n": 1},
    )


def storm_plan(ctx: Context) -> StormPlan:
    smoke = ctx.smoke
    scale = getattr(ctx.options, "reliability_wait_scale", None) or (0.02 if smoke else 0.05)
    return StormPlan(uploads=getattr(ctx.options, "reliability_n", None) or (2 if smoke else 10),
                     storm_seconds=60.0 if smoke else 120.0, settle_seconds=120.0 if smoke else 150.0,
                     wait_scale=scale, rules=storm_rules(smoke))


# ---- what is measured (pure: tests/bench/test_reliability_row.py) ---------------------------------------
@dataclass
class Tally:
    uploads: int
    statuses: Counter = field(default_factory=Counter)   # terminal status -> calls
    lost: list[str] = field(default_factory=list)        # no call record at all
    stuck: list[str] = field(default_factory=list)       # a record, not terminal
    silent: list[str] = field(default_factory=list)      # terminal, never announced
    reasons: Counter = field(default_factory=Counter)    # failure_error of FAILED/PARTIAL calls


def tally(call_ids: Iterable[str], records: dict[str, dict | None], announced: set[str],
          terminal: Iterable[str]) -> Tally:
    ids = list(call_ids)
    terminal = set(terminal)
    out = Tally(uploads=len(ids))
    for call_id in ids:
        record = records.get(call_id)
        if not record:
            out.lost.append(call_id)
            continue
        status = record.get("status")
        if status not in terminal:
            out.stuck.append(call_id)
            continue
        out.statuses[status] += 1
        if status != "COMPLETED":
            out.reasons[str(record.get("failure_error") or record.get("failure_reason") or "?")[:100]] += 1
        if call_id not in announced:
            out.silent.append(call_id)
    return out


def leaks(secret: str, sources: Iterable[tuple[str, str]]) -> Counter:
    """Where the secret appears: source kind -> how many texts contained it."""
    found: Counter = Counter()
    for kind, text in sources:
        if secret and secret in text:
            found[kind] += 1
    return found


# ---- the run ---------------------------------------------------------------------------------------------
def _start(ctx: Context, plan: StormPlan):
    try:
        from bench.rows.stack import start_subscribed_stack
        from local_aws.assemblyai import start_assemblyai
    except ImportError as exc:
        raise Unavailable(f"needs local_aws + callctl ({exc})") from None
    work = ctx.work_dir / "reliability"
    ctx.log(f"reliability: starting the local stack (wait scale {plan.wait_scale:g}, in-process Lambdas)")
    server = start_assemblyai(work / "aai", extra_config={"cache_dir": str(ctx.work_dir / "stt-cache")})
    ctx.cleanup.callback(server.stop)
    stack, sub = start_subscribed_stack(ctx, work, server, lambda_mode="inprocess", wait_scale=plan.wait_scale,
                                        label="storm")
    return server, stack, sub


class Observer:
    """The topic's messages (raw, for the secret scan) and the call records."""

    def __init__(self, stack: Any, sub: Any) -> None:
        self.stack, self.sub = stack, sub
        self.ddb = stack.client("dynamodb")
        self.table = stack.outputs["CallsTableName"]
        self.announced: dict[str, str] = {}
        self.raw: list[str] = []

    def drain(self) -> None:
        for note in self.sub.receive(wait_seconds=1):
            self.raw.append(json.dumps({"message": note.message, "attributes": note.attributes,
                                        "subject": note.subject}))
            if note.call_id and note.status:
                self.announced[note.call_id] = note.status

    def record(self, call_id: str, sk: str = "META") -> dict | None:
        from boto3.dynamodb.types import TypeDeserializer

        item = self.ddb.get_item(TableName=self.table, ConsistentRead=True,
                                 Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": sk}}).get("Item")
        return {k: TypeDeserializer().deserialize(v) for k, v in item.items()} if item else None


def _secret_sources(stack: Any, observer: Observer) -> Iterator[tuple[str, str]]:
    """Every stored or published text: DynamoDB items (all tables), SNS messages received, S3 objects other than
    the recordings, Step Functions execution histories, the local AWS and Lambda logs, CloudWatch log events."""
    ddb = stack.client("dynamodb")
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                yield "dynamodb", json.dumps(item, default=str)
    for raw in observer.raw:
        yield "sns", raw
    s3 = stack.client("s3")
    bucket, prefix = stack.outputs["RecordingsBucketName"], stack.outputs.get("RecordingsPrefix", "recordings/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            if not obj["Key"].startswith(prefix) and obj["Size"] < 5_000_000:
                yield "s3", s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8", "replace")
    sfn = stack.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for execution in page["executions"]:
                for history in sfn.get_paginator("get_execution_history").paginate(
                        executionArn=execution["executionArn"]):
                    yield "stepfunctions", json.dumps(history["events"], default=str)
    for path in (stack.aws.lambda_log_path, stack.aws.log_path):
        if path.exists():
            yield "logs", path.read_text(errors="replace")
    logs = stack.client("logs")
    for groups in logs.get_paginator("describe_log_groups").paginate():  # every page: a leak may be anywhere
        for group in groups.get("logGroups", []):
            for events in logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"]):
                for event in events.get("events", []):
                    yield "logs", event.get("message", "")


def _partial_reason(observer: Observer, call_id: str, record: dict) -> str:
    """PARTIAL: which analyses are invalid, and the first validation error of the first one."""
    invalid = list(record.get("invalid_analyses") or [])
    first = observer.record(call_id, f"ANALYSIS#{invalid[0]}") if invalid else None
    errors = (first or {}).get("errors") or []
    return f"invalid {','.join(invalid) or '?'}: {errors[0] if errors else '?'}"


def run(ctx: Context) -> list[Row]:
    use_functions()
    import requests
    from call_analytics.models import CallStatus
    from call_analytics.recordings import call_id_for

    plan = storm_plan(ctx)
    call = min(sample_calls(ctx), key=lambda c: c.duration)
    server, stack, sub = _start(ctx, plan)
    observer = Observer(stack, sub)
    s3 = stack.client("s3")
    bucket = stack.outputs["RecordingsBucketName"]
    prefix = stack.outputs.get("RecordingsPrefix", "recordings/")
    audio = call.mono.read_bytes()

    server.set_faults(list(plan.rules))
    ctx.log(f"reliability: storm on ({len(plan.rules)} rules) for {plan.storm_seconds:.0f} s, "
            f"{plan.uploads} uploads of {call.id} ({call.duration:.0f} s)")
    t0 = time.monotonic()
    stamp = int(time.time())

    def upload(i: int) -> str:
        key = f"{prefix}storm-{stamp}-{i:03d}.wav"
        put = s3.put_object(Bucket=bucket, Key=key, Body=audio)
        return call_id_for(bucket, key, put.get("VersionId"), put["ETag"])

    with ThreadPoolExecutor(4) as pool:
        call_ids = list(pool.map(upload, range(plan.uploads)))

    def finished() -> bool:
        return all(c in observer.announced and (records.get(c) or {}).get("status") in CallStatus.TERMINAL
                   for c in call_ids)

    records: dict[str, dict | None] = {}
    injected: dict[str, int] = {}
    storm_on, deadline = True, t0 + plan.storm_seconds + plan.settle_seconds
    storm_seconds = plan.storm_seconds
    next_report = time.monotonic() + 30
    while time.monotonic() < deadline:
        observer.drain()
        records = {c: observer.record(c) for c in call_ids}
        if storm_on:
            rules = requests.get(f"{server.base_url}/_local/faults", headers={"Authorization": server.api_key},
                                 timeout=30).json()["rules"]
            spent = all(r.get("exhausted") for r in rules)
            if spent or finished() or time.monotonic() - t0 >= plan.storm_seconds:
                injected = server.stats().get("faults_injected", {})
                server.clear_faults()
                storm_on, deadline = False, time.monotonic() + plan.settle_seconds
                storm_seconds = time.monotonic() - t0
                ctx.log(f"reliability: storm over after {time.monotonic() - t0:.0f} s, "
                        f"{sum(injected.values())} faults injected; waiting for the calls")
        elif finished():
            break
        if time.monotonic() >= next_report:
            ctx.log(f"reliability: {len(observer.announced)}/{len(call_ids)} calls announced")
            next_report += 30
    if storm_on:  # the row's time ran out during the storm
        injected = server.stats().get("faults_injected", {})
        server.clear_faults()
        storm_seconds = time.monotonic() - t0
    observer.drain()
    records = {c: observer.record(c) for c in call_ids}
    for call_id, record in records.items():
        if record and record.get("status") == "PARTIAL":
            record["failure_error"] = _partial_reason(observer, call_id, record)
    elapsed = time.monotonic() - t0
    result = tally(call_ids, records, set(observer.announced), CallStatus.TERMINAL)
    found = leaks(server.api_key, _secret_sources(stack, observer))
    sqs_stats = stack.aws.stats().get("sqs_event_sources", {})

    storm = ", ".join(f"{k} x{v}" for k, v in sorted(injected.items())) or "none fired"
    where = f"{stack.options.lambda_mode} Lambdas, waits x{plan.wait_scale:g}"
    n = result.uploads
    outcomes = ", ".join(f"{s} {c}" for s, c in sorted(result.statuses.items())) or "none terminal"
    reasons = "; ".join(f"{r} x{c}" for r, c in result.reasons.most_common(4))
    return [
        Row("storm: calls lost / stuck / silent", None, len(result.lost) + len(result.stuck) + len(result.silent),
            "calls", f"of {n} uploads: lost {len(result.lost)} (no record), stuck {len(result.stuck)} (not terminal "
            f"{plan.settle_seconds:.0f} s after the storm), silent {len(result.silent)} (terminal, not announced); "
            f"seeds: no retries, not run", digits=0),
        Row("storm: secrets leaked", None, sum(found.values()), "places",
            "API key searched in every DynamoDB item, SNS message received, S3 result object, Step Functions "
            f"history, local AWS + Lambda logs: {dict(found) or 'none found'}", digits=0),
        Row("storm: completed after the storm", None, result.statuses.get("COMPLETED", 0), "calls",
            f"of {n} ({outcomes}){'; reasons: ' + reasons if reasons else ''}; storm {storm_seconds:.0f} s: "
            f"{storm}; row {elapsed:.0f} s; {where}; dead-letter consumer: {sqs_stats.get('batches', 0)} batch(es)",
            digits=0),
    ]
