"""Row 5a/5b: the pipeline on the local stack (the real CDK template deployed into moto, the real handlers,
the local AssemblyAI server) against the seeds' script flow on an identical local server.

5a overhead: per sample call, time from the upload to the result (ours: the SNS notification received
through an SQS subscription; seeds: the last gateway answer) minus the service time: transcription
(created -> completed as the server reports it in GET /v2/transcript) and LLM time (seeds: the sum of
the three sequential `response_time`s; ours: the longest analysis `latency_ms`, the Map runs them in
parallel). Calls one at a time, no rate limit.

5b burst: N uploads at once under a gateway limit of R requests/min per model (all default analyses use
one model) and a transcription concurrency C; every transcription is held for at least P seconds (server
option jobs.min_processing_seconds, since the STT cache would otherwise make it ~0). Each approach is set
against its own theoretical minimum max(ceil(N/C) x P, floor((kN - 1) / R) x 60 s), k = gateway requests
per call (seeds: 3; ours: the Map items of the bundled default profile, 1 in combined mode): the last of the
kN requests cannot start before that window. The local server's rate window is a fixed 60 s, so Step Functions runs in
real time (--wait-scale 1) unless asked otherwise; a scale < 1 shortens our retries but not the window
(stated in the note). Seeds: N threads each running the seeds' flow (no retries: a 429 fails the call).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import seeds
from bench.aai import start_server
from bench.core import Context, Row, Unavailable
from bench.corpus import sample_calls
from bench.functions_code import use_functions

TITLE = "local stack overhead / burst"
IN_SMOKE = False
SEEDS_REQUESTS_PER_CALL = 3          # phases, sentiment, action items: one gateway call each
RATE_WINDOW_SECONDS = 60.0          # local_assemblyai.gateway.RateLimiter (fixed)
CALL_TIMEOUT = 900


def _iso_seconds(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc).timestamp()


def _stt_service_seconds(base_url: str, api_key: str) -> dict[str, float]:
    """transcript id -> completed - created, as the server reports them (newest 200)."""
    import requests

    page = requests.get(f"{base_url}/v2/transcript", params={"limit": 200}, headers={"Authorization": api_key},
                        timeout=30).json()
    out = {}
    for t in page["transcripts"]:
        created, completed = _iso_seconds(t["created"]), _iso_seconds(t.get("completed"))
        if created and completed:
            out[t["id"]] = completed - created
    return out


def _configure(base_url: str, api_key: str, update: dict[str, Any]) -> None:
    """Change run-time options of a local server (POST /_local/config)."""
    import requests

    r = requests.post(f"{base_url}/_local/config", json=update, headers={"Authorization": api_key}, timeout=30)
    r.raise_for_status()


def overhead_holds(base: float, n: int) -> list[float]:
    """Per call, how long the server holds the transcription: spread over one seeds' poll period (3 s), so
    the seeds' detection delay averages its expected 1.5 s instead of depending on one lucky value."""
    start = math.floor(base / seeds.POLL_INTERVAL_SECONDS) * seeds.POLL_INTERVAL_SECONDS
    return [round(start + seeds.POLL_INTERVAL_SECONDS * (i + 0.5) / n, 2) for i in range(n)]


class OurPipeline:
    """Upload to the local stack's bucket, follow the call through its record and SNS notification."""

    def __init__(self, stack: Any, subscription: Any) -> None:
        from call_analytics.recordings import call_id_for

        self.stack, self.sub, self.call_id_for = stack, subscription, call_id_for
        self.s3 = stack.client("s3")
        self.ddb = stack.client("dynamodb")
        self.bucket = stack.outputs["RecordingsBucketName"]
        self.table = stack.outputs["CallsTableName"]
        self.notified: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def upload(self, path: Path, key: str) -> tuple[str, float]:
        started = time.monotonic()
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
        return self.call_id_for(self.bucket, key, put.get("VersionId"), put["ETag"]), started

    def drain(self) -> None:
        for note in self.sub.receive(wait_seconds=1):
            with self._lock:
                self.notified.setdefault(note.call_id, (time.monotonic(), note.status))

    def wait(self, call_ids: set[str], timeout: float, progress=None) -> None:
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 30
        while not call_ids <= set(self.notified) and time.monotonic() < deadline:
            self.drain()
            if progress and time.monotonic() >= next_report:
                done = [self.notified[c][1] for c in call_ids if c in self.notified]
                progress(f"{len(done)}/{len(call_ids)} calls announced ({done.count('FAILED')} FAILED)")
                next_report += 30

    def item(self, call_id: str, sk: str) -> dict | None:
        from boto3.dynamodb.types import TypeDeserializer

        item = self.ddb.get_item(TableName=self.table, ConsistentRead=True,
                                 Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": sk}}).get("Item")
        return {k: TypeDeserializer().deserialize(v) for k, v in item.items()} if item else None


def _start_stack(ctx: Context, config: dict[str, Any]):
    try:
        from local_aws.assemblyai import start_assemblyai
    except ImportError as exc:
        raise Unavailable(f"needs local_aws + callctl ({exc})") from None
    work = ctx.work_dir / "stack"
    ctx.log("starting the local stack (local AssemblyAI + local AWS + deploy of the synthesized template)")
    server = start_assemblyai(work / "ours", extra_config=config)
    ctx.cleanup.callback(server.stop)
    lambda_mode = getattr(ctx.options, "lambda_mode", None) or "inprocess"
    # the pipeline's own transcription semaphore gets the same C as the server (infra context key)
    context = {"transcription_concurrency": ctx.options.burst_concurrency,
               "completion_webhook": bool(getattr(ctx.options, "completion_webhook", False))}
    stack, sub = start_subscribed_stack(ctx, work, server, lambda_mode=lambda_mode,
                                        wait_scale=ctx.options.wait_scale, context=context, label="bench")
    return server, stack, sub, lambda_mode


def start_subscribed_stack(ctx: Context, work: Path, server: Any, *, lambda_mode: str, wait_scale: float,
                           context: dict[str, Any] | None = None, label: str = "bench") -> tuple[Any, Any]:
    """The local stack against `server`, and an SQS subscription to its results topic; both stopped at cleanup."""
    try:
        from callctl.subscription import TopicSubscription
        from local_aws.stack import LocalStack, LocalStackOptions
    except ImportError as exc:
        raise Unavailable(f"needs local_aws + callctl ({exc})") from None
    stack = LocalStack(LocalStackOptions(work_dir=work, lambda_mode=lambda_mode, wait_scale=wait_scale,
                                         assemblyai=server, real_api_key=None, write_state=False,
                                         context=context or {}))
    try:
        stack.start()
    except Exception as exc:
        raise Unavailable(f"the local stack did not start: {type(exc).__name__}: {exc}") from None
    ctx.cleanup.callback(stack.stop)
    sub = TopicSubscription(stack.client("sns"), stack.client("sqs"), stack.outputs["ResultsTopicArn"], label)
    ctx.cleanup.callback(sub.close)
    return stack, sub


def _overhead_ours(ctx: Context, pipe: OurPipeline, server: Any, calls: list, holds: list[float]) -> list[float]:
    out = []
    for call, hold in zip(calls, holds, strict=True):
        _configure(server.base_url, server.api_key, {"jobs": {"min_processing_seconds": hold}})
        call_id, started = pipe.upload(call.mono, f"recordings/bench-overhead-{int(time.time())}-{call.id}.wav")
        pipe.wait({call_id}, CALL_TIMEOUT)
        if call_id not in pipe.notified:
            raise RuntimeError(f"no notification for {call.id} ({call_id}) after {CALL_TIMEOUT}s")
        done, status = pipe.notified[call_id]
        meta = pipe.item(call_id, "META") or {}
        if status != "COMPLETED":
            raise RuntimeError(f"{call.id} ended {status}: {meta.get('failure_reason')}")
        stt = _stt_service_seconds(server.base_url, server.api_key).get(meta.get("transcript_id"), 0.0)
        llm = max(float((pipe.item(call_id, f"ANALYSIS#{a}") or {}).get("latency_ms") or 0) / 1000
                  for a in ("phases", "sentiment", "action_items"))
        ctx.log(f"ours {call.id}: e2e {done - started:.1f}s, transcription {stt:.1f}s, LLM {llm:.1f}s")
        out.append(done - started - stt - llm)
    return out


def _overhead_seeds(ctx: Context, server: Any, calls: list, scale: float, holds: list[float]) -> list[float]:
    out = []
    for call, hold in zip(calls, holds, strict=True):
        _configure(server.base_url, server.api_key, {"jobs": {"min_processing_seconds": hold}})
        result = seeds.run_flow(server.base_url, server.api_key, call.mono, sleep_scale=scale)
        if result["failed"]:
            raise RuntimeError(f"seeds flow failed on {call.id}: {result['failed']}")
        stt = _stt_service_seconds(server.base_url, server.api_key).get(result["transcript_id"], 0.0)
        llm = sum(result["llm_seconds"])
        ctx.log(f"seeds {call.id}: e2e {result['seconds']:.1f}s, transcription {stt:.1f}s, LLM {llm:.1f}s")
        out.append(result["seconds"] - stt - llm)
    return out


def theoretical_minimum(n: int, concurrency: int, hold: float, requests_per_call: int, rate: int) -> float:
    """Lower bound for n calls: transcription slots, or the rate window of the last gateway request."""
    return max(math.ceil(n / concurrency) * hold,
               math.floor((requests_per_call * n - 1) / rate) * RATE_WINDOW_SECONDS)


def _our_requests_per_call() -> list[str]:
    """The Map items (one gateway request each) the bundled default profile plans for a call with speech."""
    from call_analytics.analyses.catalog import analyses_to_run

    from bench.functions_code import profile_variant

    return analyses_to_run(profile_variant())


def run(ctx: Context) -> list[Row]:
    use_functions()
    n, rate, conc = ctx.options.burst_n, ctx.options.burst_rate, ctx.options.burst_concurrency
    scale = ctx.options.wait_scale
    hold = ctx.options.min_processing
    config = {"concurrency": conc, "jobs": {"min_processing_seconds": hold}}
    calls = sample_calls(ctx)
    server, stack, sub, lambda_mode = _start_stack(ctx, config)
    detection = ("completion webhook (task token), polling as backstop"
                 if getattr(ctx.options, "completion_webhook", False) else "Step Functions polls")
    seeds_server = start_server(ctx.work_dir / "stack" / "seeds", config)
    ctx.cleanup.callback(seeds_server.stop)
    pipe = OurPipeline(stack, sub)
    rows = []

    # 5a: overhead, one call at a time
    ctx.log("overhead: each sample call once, ours then the seeds' flow")
    holds = overhead_holds(hold, len(calls))
    ours_over = _overhead_ours(ctx, pipe, server, calls, holds)
    seeds_over = _overhead_seeds(ctx, seeds_server, calls, scale, holds)
    rows.append(Row("overhead per call: upload -> result minus service time", statistics.fmean(seeds_over),
                    statistics.fmean(ours_over), "s",
                    f"mean of {len(calls)} call(s); ours = S3 event, Lambdas ({lambda_mode}), {detection}, "
                    f"results to S3/DynamoDB, SNS -> SQS; waits x{scale:g}; seeds' 3 s sleep x{scale:g}; "
                    f"transcription held {holds} s (spread over one 3 s period; where completion falls between "
                    "polls decides most of it: row 3)", digits=1))
    if n <= 0:
        return rows

    # 5b: burst
    ours_k = len(_our_requests_per_call())
    seeds_min, t_min = (theoretical_minimum(n, conc, hold, k, rate) for k in (SEEDS_REQUESTS_PER_CALL, ours_k))
    for s in (server, seeds_server):
        _configure(s.base_url, s.api_key, {"llm": {"rate_limit_per_minute": rate},
                                           "jobs": {"min_processing_seconds": hold}})
    ctx.log(f"burst (ours): {n} uploads, R={rate}/min, C={conc}; theoretical minimum {t_min:.0f} s")
    t0 = time.monotonic()
    ids = set()
    with ThreadPoolExecutor(8) as pool:
        for call_id, _ in pool.map(lambda i: pipe.upload(calls[i % len(calls)].mono,
                                                         f"recordings/bench-burst-{int(time.time())}-{i:04d}.wav"),
                                   range(n)):
            ids.add(call_id)
    pipe.wait(ids, ctx.options.stack_timeout, progress=ctx.log)
    finished = [pipe.notified[c] for c in ids if c in pipe.notified]
    ours_time = (max(t for t, _ in finished) - t0) if finished else float("nan")
    ours_failed = sum(1 for _, s in finished if s != "COMPLETED") + (len(ids) - len(finished))

    ctx.log(f"burst (seeds): {n} threads running the seeds' flow")
    t0 = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda i: seeds.run_flow(seeds_server.base_url, seeds_server.api_key,
                                                         calls[i % len(calls)].mono, sleep_scale=scale), range(n)))
    seeds_time = time.monotonic() - t0
    seeds_failed = sum(1 for r in results if r["failed"])
    limits = (f"N={n}, R={rate}/min/model (window {RATE_WINDOW_SECONDS:g} s, not scaled), C={conc}, "
              f"P={hold:g} s; lower bounds (ignore LLM and pipeline time): seeds {seeds_min:.0f} s "
              f"({SEEDS_REQUESTS_PER_CALL} requests/call), ours {t_min:.0f} s ({ours_k} request(s)/call)")
    rows.append(Row("burst completion time / own theoretical minimum", seeds_time / seeds_min if seeds_min else None,
                    ours_time / t_min if t_min else None, "x",
                    f"{limits}; seeds {seeds_time:.0f} s, ours {ours_time:.0f} s (last result); waits x{scale:g}; "
                    f"ours: {detection}",
                    digits=2))
    rows.append(Row("burst completion time (last result)", seeds_time, ours_time, "s",
                    "seeds lose their failed calls' remaining work, so their time is not for equal output",
                    digits=0))
    rows.append(Row("burst failed calls", seeds_failed, ours_failed, "calls",
                    f"of {n}; seeds: no retry on 429; ours: a shared per-model rate window in DynamoDB (spill-over "
                    "to fallback models, WaitForLlmQuota loop on throttled, Retry-After + jitter on a 429), "
                    "FAILED + notification only when the analysis wait budget is spent", digits=0))
    return rows
