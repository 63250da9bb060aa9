"""record_failure: the Catch target. FAILED + reason + one failure notification; idempotent, never raises on a
missing call record (it creates one). `fail_call` is the shared core (the dead-letter consumer uses it too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from call_analytics.logic.accounting import workflow_stats
from call_analytics.logic.common import failure_reason, iso, utc_now
from call_analytics.logic.notifications import failure_message
from call_analytics.models import CallState, CallStatus, FailureResult
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.redaction import redact


def record_failure(
    state: CallState,
    *,
    calls: Any,
    notifier: Any,
    now: Callable[[], datetime] = utc_now,
    semaphore: Any | None = None,
) -> FailureResult:
    error = state.error
    error_type = error.Error if error else "States.Unknown"
    reason = failure_reason(error_type, error.Cause if error else None)
    fields: dict[str, Any] = {"workflow_stats": workflow_stats(state, failed=True)}
    if state.transcript_id:
        fields["transcript_id"] = state.transcript_id
    result = fail_call(state.call_id, error_type=error_type, reason=reason, profile=state.profile,
                       recording=state.recording.model_dump(mode="json") if state.recording else None,
                       calls=calls, notifier=notifier, now=now, semaphore=semaphore, fields=fields)
    # fail_call spares only COMPLETED calls when asked to (spare_completed); the Catch never asks
    return result or FailureResult(call_id=state.call_id, reason=reason, notified=False)


def fail_call(
    call_id: str,
    *,
    error_type: str,
    reason: str,
    profile: str | None,
    recording: dict[str, Any] | None,
    calls: Any,
    notifier: Any,
    now: Callable[[], datetime] = utc_now,
    semaphore: Any | None = None,
    fields: dict[str, Any] | None = None,
    spare_completed: bool = False,
) -> FailureResult | None:
    """Record the call FAILED with `reason` (a FAILED call keeps its first reason), give back its transcription
    slot, and announce the failure once (`failure_notified`). With `spare_completed`, a finished (COMPLETED or
    PARTIAL) call is left untouched and None is returned. Safe to repeat: a second run changes nothing and
    publishes nothing.
    The reason is redacted (no API key / auth value reaches the record, its history or the message)."""
    reason = redact(reason)[:1000]
    blocked = {CallStatus.FAILED, *CallStatus.DONE} if spare_completed else {CallStatus.FAILED}
    values: dict[str, Any] = {"failure_reason": reason, "failure_error": error_type, "failed_at": iso(now()),
                              **(fields or {})}
    if profile:
        values["profile"] = profile
    if recording:
        values.update(recording_bucket=recording.get("bucket"), recording_key=recording.get("key"))
    changed = calls.set_status(call_id, CallStatus.FAILED, detail=reason, fields=values, only_if_not=blocked,
                               must_exist=False)
    record = calls.get_call(call_id) or {}
    if not changed and record.get("status") in CallStatus.DONE and spare_completed:
        logger.info("call already completed: left as it is", extra={"call_id": call_id})
        return None
    if semaphore is not None:
        semaphore.release(call_id)  # idempotent: a call that holds no slot gives nothing back
    if changed:
        metrics.add_metric(name="CallsFailed", unit=MetricUnit.Count, value=1)
    stored_reason = record.get("failure_reason") or reason
    if record.get("failure_notified"):
        logger.info("failure already announced", extra={"reason": stored_reason})
        return FailureResult(call_id=call_id, reason=stored_reason, notified=False)
    message = failure_message(call_id=call_id, profile=profile or record.get("profile"), recording=recording,
                              error_type=record.get("failure_error") or error_type, reason=stored_reason,
                              at=iso(now()))
    notifier.publish(message, status=CallStatus.FAILED, profile=profile or record.get("profile"))
    calls.update_fields(call_id, {"failure_notified": True})
    logger.warning("call failed", extra={"reason": stored_reason})
    return FailureResult(call_id=call_id, reason=stored_reason, notified=True)
