"""run_analysis: one Map item -> LLM request(s) with validation and one repair -> S3 result + DynamoDB item."""

from __future__ import annotations

import json
from typing import Any

from call_analytics.analyses.catalog import COMBINED, build_job
from call_analytics.analyses.runner import Attempt, JobOutcome, run_job
from call_analytics.compact import render_compact
from call_analytics.errors import PermanentError
from call_analytics.logic.common import load_call_profile, result_key
from call_analytics.models import AnalysisRef, AnalysisTask
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.profiles.loader import ProfileLoader
from call_analytics.profiles.model import Profile
from call_analytics.settings import RunAnalysisSettings
from call_analytics.transcript_facts import facts_for_validation

#: DynamoDB items hold the result inline below this size; above it only in S3 (item limit is 400 KB)
INLINE_LIMIT_BYTES = 100_000


def run_analysis(
    task: AnalysisTask,
    *,
    settings: RunAnalysisSettings,
    aai: Any,
    store: Any,
    calls: Any,
    profiles: ProfileLoader,
) -> AnalysisRef:
    bucket, prefix, call_id = settings.RECORDINGS_BUCKET, settings.RESULTS_PREFIX, task.call_id
    profile = load_call_profile(store, profiles, bucket, prefix, call_id, task.profile)
    transcript = store.get_json(bucket, result_key(prefix, call_id, "transcript.json"))
    rendering = _render(profile, transcript, store, bucket, prefix, call_id)
    job = build_job(task.analysis, profile, rendering, facts_for_validation(transcript))
    try:
        outcome = run_job(job, aai.chat_completion, repair_attempts=profile.llm.repair_attempts)
    except PermanentError as exc:
        # the gateway refused the request (bad model, bad key...): keep the reason with the call, don't drop it
        outcome = _refused(job.name, job.sections, str(exc), job.request["model"])

    item_key = result_key(prefix, call_id, f"{task.analysis}.json")
    if task.analysis == COMBINED:
        store.put_json(bucket, item_key, _attempts_record(outcome, job.request["model"]))
    for section, section_outcome in outcome.sections.items():
        _store_section(section, section_outcome, outcome, job.name, store, calls, bucket, prefix, call_id)

    metrics.add_metric(name="AnalysisLatency", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
    metrics.add_metric(name="LLMTokens", unit=MetricUnit.Count, value=outcome.usage["total_tokens"])
    if len(outcome.attempts) > 1:
        metrics.add_metric(name="AnalysisRepairs", unit=MetricUnit.Count, value=len(outcome.attempts) - 1)
    if not outcome.valid:
        metrics.add_metric(name="AnalysisInvalid", unit=MetricUnit.Count, value=1)
    logger.info("analysis stored", extra={"analysis": task.analysis, "valid": outcome.valid, "model": outcome.model,
                                          "attempts": len(outcome.attempts), "tokens": outcome.usage["total_tokens"]})
    return AnalysisRef(analysis=task.analysis, valid=outcome.valid, item_key=item_key)


def _render(profile: Profile, transcript: dict, store: Any, bucket: str, prefix: str, call_id: str) -> str:
    if profile.llm.transcript_format == "vtt":
        return store.get_text(bucket, result_key(prefix, call_id, "captions.vtt"))
    return render_compact(transcript, profile.transcription.channel_names)


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
                   call_id) -> None:
    key = result_key(prefix, call_id, f"{section}.json")
    common = {
        "valid": section_outcome.valid,
        "errors": section_outcome.errors,
        "issues": section_outcome.issues,
        "model": outcome.model,
        "request": request_name,  # the section's own name, or "combined"
        "attempts": len(outcome.attempts),
        "repaired": section_outcome.valid and section_outcome.attempt > 1,
        "tokens": outcome.usage,
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
