"""record_failure: the Catch target. FAILED + reason + one failure notification; idempotent, never raises on a
missing call record (it creates one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from call_analytics.logic.accounting import workflow_stats
from call_analytics.logic.common import failure_reason, iso, utc_now
from call_analytics.logic.notifications import failure_message
from call_analytics.models import CallState, CallStatus, FailureResult
from call_analytics.observability import MetricUnit, logger, metrics


def record_failure(
    state: CallState,
    *,
    calls: Any,
    notifier: Any,
    now: Callable[[], datetime] = utc_now,
    semaphore: Any | None = None,
) -> FailureResult:
    if semaphore is not None:
        semaphore.release(state.call_id)  # idempotent: a call that holds no slot gives nothing back
    error = state.error
    error_type = error.Error if error else "States.Unknown"
    reason = failure_reason(error_type, error.Cause if error else None)
    recording = state.recording.model_dump(mode="json") if state.recording else None
    fields: dict[str, Any] = {"failure_reason": reason, "failure_error": error_type, "profile": state.profile,
                              "failed_at": iso(now()), "workflow_stats": workflow_stats(state, failed=True)}
    if state.transcript_id:
        fields["transcript_id"] = state.transcript_id
    if recording:
        fields.update(recording_bucket=recording["bucket"], recording_key=recording["key"])
    changed = calls.set_status(state.call_id, CallStatus.FAILED, detail=reason, fields=fields,
                               only_if_not={CallStatus.FAILED}, must_exist=False)
    if changed:
        metrics.add_metric(name="CallsFailed", unit=MetricUnit.Count, value=1)
    record = calls.get_call(state.call_id) or {}
    if record.get("failure_notified"):
        logger.info("failure already announced", extra={"reason": record.get("failure_reason")})
        return FailureResult(call_id=state.call_id, reason=record.get("failure_reason") or reason, notified=False)
    message = failure_message(call_id=state.call_id, profile=state.profile, recording=recording,
                              error_type=error_type, reason=record.get("failure_reason") or reason, at=iso(now()))
    notifier.publish(message, status=CallStatus.FAILED, profile=state.profile)
    calls.update_fields(state.call_id, {"failure_notified": True})
    logger.warning("call failed", extra={"reason": reason})
    return FailureResult(call_id=state.call_id, reason=record.get("failure_reason") or reason, notified=True)
