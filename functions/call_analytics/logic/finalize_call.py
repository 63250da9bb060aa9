"""finalize_call: mark the call COMPLETED and announce it once (results location + a short digest)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from call_analytics.logic.accounting import estimate_cost, llm_usage, workflow_stats
from call_analytics.logic.common import iso, results_prefix, utc_now
from call_analytics.logic.notifications import completion_message
from call_analytics.models import CallState, CallStatus, FinalizeResult
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.settings import FinalizeCallSettings


def finalize_call(
    state: CallState,
    *,
    settings: FinalizeCallSettings,
    calls: Any,
    notifier: Any,
    now: Callable[[], datetime] = utc_now,
) -> FinalizeResult:
    call_id = state.call_id
    items = calls.list_analyses(call_id)
    transcript = state.transcript.model_dump(mode="json") if state.transcript else None
    invalid = sorted(i["analysis"] for i in items if not i.get("valid"))
    detail = "analyses: " + (", ".join(sorted(i["analysis"] for i in items)) or "none")
    if transcript and transcript.get("skip_reason"):
        detail = f"analyses skipped: {transcript['skip_reason']}"
    elif invalid:
        detail += f" (invalid: {', '.join(invalid)})"
    record = calls.get_call(call_id) or {}
    stats = workflow_stats(state)
    usage = llm_usage(items)
    audio_seconds = (transcript or {}).get("audio_duration") or record.get("audio_duration")
    cost = estimate_cost(usage=usage, audio_seconds=audio_seconds, speech_model=record.get("speech_model"))
    changed = calls.set_status(
        call_id, CallStatus.COMPLETED, detail=detail,
        fields={"invalid_analyses": invalid, "completed_at": iso(now()), "workflow_stats": stats,
                "llm_usage": usage, "cost": cost},
        only_if_not={CallStatus.COMPLETED}, must_exist=False,
    )
    record = calls.get_call(call_id) or record
    if changed:
        metrics.add_metric(name="CallsCompleted", unit=MetricUnit.Count, value=1)
        created = record.get("created_at")
        if created:
            seconds = (now() - datetime.fromisoformat(created)).total_seconds()
            metrics.add_metric(name="CallLatency", unit=MetricUnit.Seconds, value=max(0.0, seconds))
    if record.get("completion_notified"):
        logger.info("completion already announced")
        return FinalizeResult(call_id=call_id, status=CallStatus.COMPLETED, notified=False)

    recording = state.recording.model_dump(mode="json") if state.recording else {
        "bucket": record.get("recording_bucket"), "key": record.get("recording_key"),
        "version_id": record.get("recording_version_id")}
    message = completion_message(
        call_id=call_id, profile=state.profile, recording=recording, bucket=settings.RECORDINGS_BUCKET,
        prefix=results_prefix(settings.RESULTS_PREFIX, call_id), analysis_items=items, transcript=transcript,
        at=iso(now()), accounting={"workflow": record.get("workflow_stats") or stats,
                                   "llm": record.get("llm_usage") or usage, "cost": record.get("cost") or cost},
    )
    message_id = notifier.publish(message, status=CallStatus.COMPLETED, profile=state.profile)
    calls.update_fields(call_id, {"completion_notified": True})
    logger.info("call completed", extra={"invalid_analyses": invalid, "message_id": message_id})
    return FinalizeResult(call_id=call_id, status=CallStatus.COMPLETED, message_id=message_id, notified=True)
