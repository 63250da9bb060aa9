"""run_analysis: one Map item -> LLM request(s) with validation and one repair -> S3 result + DynamoDB item.

Every gateway request first takes a place in a per-model 60 s window shared by all executions (the limits
table; each model's limit from LLM_REQUESTS_PER_MINUTE, an int or a per-model map). The primary model's window
full -> the request's fallback models (the analysis' own `fallback_models`, else the profile's `llm.fallback_models`:
the `fallbacks` catalog.chat_request put in the request) whose windows have room under their own limits (the
request is sent with that model as primary); all full, or the gateway still answers
429 after the client's retries -> the item answers {"status": "throttled", "wait_seconds"} and the Map item
waits (WaitForLlmQuota) and runs again, until ANALYSIS_WAIT_BUDGET_SECONDS is spent (AnalysisBudgetExhausted).
A job interrupted between its first request and its repair starts over after the wait; the tokens it spent
are carried in `throttle.usage` and still counted. A gateway that keeps failing (5xx, timeouts after the client's
retries) answers {"status": "retry", "wait_seconds", "outage"} the same way (call_analytics/outages.py), until
OUTAGE_BUDGET_SECONDS of waits (OutageBudgetExhausted).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

from call_analytics.analyses.catalog import COMBINED, build_job
from call_analytics.analyses.runner import Attempt, JobOutcome, run_job, usage_of
from call_analytics.compact import render_compact
from call_analytics.conversation.roles import RoleMap
from call_analytics.errors import AnalysisBudgetExhausted, PermanentError, ThrottledError, TransientError
from call_analytics.logic.common import INLINE_LIMIT_BYTES, load_call_profile, result_key, utc_now
from call_analytics.logic.conversation import call_roles, stored_roles
from call_analytics.models import AnalysisRef, AnalysisTask, AnalysisThrottled, ThrottleState
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.outages import ride_out
from call_analytics.profiles.loader import ProfileLoader
from call_analytics.profiles.model import Profile
from call_analytics.settings import RunAnalysisSettings
from call_analytics.transcript_facts import facts_for_validation

#: waits for quota get up to this many seconds of random spread, so the waiting items do not all return at once
QUOTA_WAIT_JITTER_SECONDS = 10


class QuotaUnavailable(Exception):
    """No model has room (or the gateway said 429): the Map item has to wait `wait_seconds`."""

    def __init__(self, wait_seconds: int, reason: str):
        super().__init__(reason)
        self.wait_seconds = wait_seconds


def spill_to(request: dict[str, Any], model: str) -> dict[str, Any]:
    """The request with `model` as primary and the models after it in the chain as gateway fallbacks (the ones
    before it had no room: the gateway must not fall back to them)."""
    chain = [request["model"], *(f["model"] for f in request.get("fallbacks") or [])]
    rest = chain[chain.index(model) + 1:] if model in chain else chain
    spilled = {k: v for k, v in request.items() if k not in ("fallbacks", "fallback_config")}
    spilled["model"] = model
    if rest:
        spilled["fallbacks"] = [{"model": m} for m in rest]
        spilled["fallback_config"] = {"depth": len(rest)}
    return spilled


class GatewayOutage(Exception):
    """The gateway kept failing (TransientError after the client's retries): the Map item waits out the outage."""

    def __init__(self, error: TransientError):
        super().__init__(str(error))
        self.error = error


class RateLimitedGateway:
    """`call_llm` for run_job: one place in some model's window before each request; 429 -> QuotaUnavailable.
    `limit` is the requests/min of every model, or a function model -> its requests/min."""

    def __init__(self, send: Callable[[dict[str, Any]], dict[str, Any]], limiter: Any | None,
                 limit: int | Callable[[str], int], *, jitter: Callable[[], float] = random.random):
        self.send, self.limiter, self.jitter = send, limiter, jitter
        self.limit_of: Callable[[str], int] = limit if callable(limit) else (lambda model: limit)
        self.requests = 0
        self.usage = {key: 0 for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
        self.spilled_to: list[str] = []

    def _spread(self) -> int:
        return math.ceil(self.jitter() * QUOTA_WAIT_JITTER_SECONDS)

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        model = request["model"]
        if self.limiter is not None:
            chain = [model, *(f["model"] for f in request.get("fallbacks") or [])]
            model = next((m for m in chain if self.limiter.try_acquire(m, self.limit_of(m))), None)
            if model is None:
                wait = self.limiter.seconds_to_next_window() + self._spread()
                full = ", ".join(f"{m} ({self.limit_of(m)}/min)" for m in chain)
                raise QuotaUnavailable(wait, f"LLM request windows full for {full}")
            if model != request["model"]:
                self.spilled_to.append(model)
                request = spill_to(request, model)
        self.requests += 1
        try:
            response = self.send(request)
        except ThrottledError as exc:
            if self.limiter is not None:
                self.limiter.mark_full(model, self.limit_of(model))
            base = exc.retry_after if exc.retry_after else (
                self.limiter.seconds_to_next_window() if self.limiter is not None else 60)
            raise QuotaUnavailable(max(1, math.ceil(base)) + self._spread(), str(exc)) from None
        except TransientError as exc:
            raise GatewayOutage(exc) from None
        for key, value in usage_of(response).items():
            self.usage[key] += value
        return response


def run_analysis(
    task: AnalysisTask,
    *,
    settings: RunAnalysisSettings,
    aai: Any,
    store: Any,
    calls: Any,
    profiles: ProfileLoader,
    limiter: Any | None = None,
    jitter: Callable[[], float] = random.random,
) -> AnalysisRef | AnalysisThrottled:
    bucket, prefix, call_id = settings.RECORDINGS_BUCKET, settings.RESULTS_PREFIX, task.call_id
    throttle = task.throttle or ThrottleState()
    profile = load_call_profile(store, profiles, bucket, prefix, call_id, task.profile)
    transcript = store.get_json(bucket, result_key(prefix, call_id, "transcript.json"))
    record = calls.get_call(call_id)
    roles = stored_roles(record) or call_roles(transcript, profile, record)
    rendering = _render(profile, transcript, roles, store, bucket, prefix, call_id)
    job = build_job(task.analysis, profile, rendering, facts_for_validation(transcript))
    gateway = RateLimitedGateway(aai.chat_completion, limiter, settings.llm_requests_per_minute, jitter=jitter)
    try:
        outcome = run_job(job, gateway, repair_attempts=profile.llm.repair_attempts)
    except PermanentError as exc:
        # the gateway refused the request (bad model, bad key...): keep the reason with the call, don't drop it
        outcome = _refused(job.name, job.sections, str(exc), job.request["model"])
    except QuotaUnavailable as exc:
        return _throttled(task, throttle, gateway, exc, settings)
    except GatewayOutage as exc:
        return _outage(task, throttle, gateway, exc.error, settings, jitter)
    carried = _sum_usage(throttle.usage, outcome.usage)
    requests = throttle.requests + gateway.requests

    item_key = result_key(prefix, call_id, f"{task.analysis}.json")
    if task.analysis == COMBINED:
        store.put_json(bucket, item_key, _attempts_record(outcome, job.request["model"]))
    for section, section_outcome in outcome.sections.items():
        _store_section(section, section_outcome, outcome, job.name, store, calls, bucket, prefix, call_id,
                       tokens=carried, requests=requests, waits=throttle.waits)

    metrics.add_metric(name="AnalysisLatency", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
    metrics.add_metric(name="LLMTokens", unit=MetricUnit.Count, value=carried["total_tokens"])
    if len(outcome.attempts) > 1:
        metrics.add_metric(name="AnalysisRepairs", unit=MetricUnit.Count, value=len(outcome.attempts) - 1)
    if not outcome.valid:
        metrics.add_metric(name="AnalysisInvalid", unit=MetricUnit.Count, value=1)
    logger.info("analysis stored", extra={"analysis": task.analysis, "valid": outcome.valid, "model": outcome.model,
                                          "attempts": len(outcome.attempts), "tokens": carried["total_tokens"],
                                          "spilled_to": gateway.spilled_to, "quota_waits": throttle.waits})
    return AnalysisRef(analysis=task.analysis, valid=outcome.valid, item_key=item_key, requests=requests,
                       waits=throttle.waits, waited_seconds=throttle.waited_seconds)


def _sum_usage(*usages: dict[str, int]) -> dict[str, int]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: sum(int(u.get(k, 0) or 0) for u in usages) for k in keys}


def _throttled(task: AnalysisTask, throttle: ThrottleState, gateway: RateLimitedGateway, exc: QuotaUnavailable,
               settings: RunAnalysisSettings) -> AnalysisThrottled:
    wait = max(1, exc.wait_seconds)
    budget = settings.ANALYSIS_WAIT_BUDGET_SECONDS
    if throttle.waited_seconds + wait > budget:
        raise AnalysisBudgetExhausted(
            f"analysis {task.analysis} of call {task.call_id} got no LLM quota after waiting "
            f"{throttle.waited_seconds}s ({throttle.waits} waits; ANALYSIS_WAIT_BUDGET_SECONDS={budget}): {exc}")
    metrics.add_metric(name="AnalysisQuotaWaits", unit=MetricUnit.Count, value=1)
    logger.info("no LLM quota; waiting", extra={"analysis": task.analysis, "wait_seconds": wait, "reason": str(exc)})
    return AnalysisThrottled(
        call_id=task.call_id, profile=task.profile, analysis=task.analysis, wait_seconds=wait, reason=str(exc)[:300],
        throttle=ThrottleState(waits=throttle.waits + 1, waited_seconds=throttle.waited_seconds + wait,
                               usage=_sum_usage(throttle.usage, gateway.usage),
                               requests=throttle.requests + gateway.requests),
    )


def _outage(task: AnalysisTask, throttle: ThrottleState, gateway: RateLimitedGateway, exc: TransientError,
            settings: RunAnalysisSettings, jitter: Callable[[], float]) -> AnalysisThrottled:
    outage = ride_out(task.outage, exc, step=f"RunAnalysis {task.analysis}",
                      budget_seconds=settings.OUTAGE_BUDGET_SECONDS, now=utc_now(), jitter=jitter)
    metrics.add_metric(name="OutageWaits", unit=MetricUnit.Count, value=1)
    logger.warning("LLM gateway failing; waiting out the outage",
                   extra={"analysis": task.analysis, "wait_seconds": outage.wait_seconds, "outage_waits": outage.waits,
                          "reason": outage.reason})
    return AnalysisThrottled(
        call_id=task.call_id, profile=task.profile, analysis=task.analysis, status="retry",
        wait_seconds=outage.wait_seconds, reason=outage.reason[:300], outage=outage,
        throttle=ThrottleState(waits=throttle.waits, waited_seconds=throttle.waited_seconds,
                               usage=_sum_usage(throttle.usage, gateway.usage),
                               requests=throttle.requests + gateway.requests),
    )


def _render(profile: Profile, transcript: dict, roles: RoleMap, store: Any, bucket: str, prefix: str,
            call_id: str) -> str:
    if profile.llm.transcript_format == "vtt":
        vtt = store.get_text(bucket, result_key(prefix, call_id, "captions.vtt"))
        who = ", ".join(f"speaker {sid} is the {role}" for sid, role in roles.speakers.items())
        return f"{vtt.rstrip()}\n\nNOTE Speakers: {who}.\n" if who else vtt  # a VTT comment block
    return render_compact(transcript, profile.transcription.channel_names, roles)


def _refused(name: str, sections: tuple[str, ...], reason: str, model: str) -> JobOutcome:
    from call_analytics.analyses.runner import SectionOutcome

    outcome = JobOutcome(name=name, sections={})
    outcome.attempts.append(Attempt(raw="", model=model, usage={}, latency_ms=0, finish_reason=None,
                                    errors=[f"LLM gateway refused the request: {reason}"]))
    for section in sections:
        outcome.sections[section] = SectionOutcome(valid=False, result=None,
                                                   errors=[f"LLM gateway refused the request: {reason}"],
                                                   issues=[], attempt=1)
    return outcome


def _attempts_record(outcome: JobOutcome, requested_model: str) -> list[dict[str, Any]]:
    return [
        {"attempt": n, "model": a.model, "finish_reason": a.finish_reason, "usage": a.usage,
         "latency_ms": a.latency_ms, "errors": a.errors, "raw": a.raw}
        for n, a in enumerate(outcome.attempts, start=1)
    ] or [{"attempt": 0, "model": requested_model, "raw": ""}]


def _store_section(section, section_outcome, outcome: JobOutcome, request_name: str, store, calls, bucket, prefix,
                   call_id, *, tokens: dict[str, int], requests: int, waits: int) -> None:
    key = result_key(prefix, call_id, f"{section}.json")
    common = {
        "valid": section_outcome.valid,
        "errors": section_outcome.errors,
        "issues": section_outcome.issues,
        "model": outcome.model,
        "request": request_name,  # the section's own name, or "combined"
        "attempts": len(outcome.attempts),
        "repaired": section_outcome.valid and section_outcome.attempt > 1,
        "tokens": tokens,  # this item's requests, interrupted jobs included (shared by a combined request)
        "requests": requests,
        "quota_waits": waits,
        "latency_ms": outcome.latency_ms,
    }
    document = {"analysis": section, "result": section_outcome.result, **common,
                "raw_outputs": [a.raw for a in outcome.attempts]}
    store.put_json(bucket, key, document)
    item = {**common, "result_key": key}
    result_json = json.dumps(section_outcome.result) if section_outcome.result is not None else "null"
    if len(result_json.encode()) <= INLINE_LIMIT_BYTES:
        item["result"] = section_outcome.result
    if not section_outcome.valid:
        raw = outcome.attempts[section_outcome.attempt - 1].raw if outcome.attempts else ""
        item["raw_output"] = raw if len(raw.encode()) <= INLINE_LIMIT_BYTES else None
    calls.put_analysis(call_id, section, item)
