"""dead_letters: failures that happened where no Catch could record them -> FAILED call + reason + one announcement.

Two message shapes arrive (SQS, from two queues; docs/architecture.md "Dead letters"):

* StartCallDlq — Lambda's on-failure destination record of start_call (async invoke, retries spent):
  `{"requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3, ...},
    "requestPayload": <the S3 event>, "responseContext": {...}, "responsePayload": {"errorType", "errorMessage"}}`.
  Per S3 record: the call id exactly as start_call derives it (`recordings.uploaded_objects` + `call_id`). A call
  that is COMPLETED, or got as far as an execution (record or Step Functions says so), is left alone: the
  execution records its own ending. Otherwise FAILED with "start_call gave up …" and announced; the record
  keeps the recording (bucket/key/version/etag/size), so `callctl redrive <call_id>` re-runs it.
* WorkflowDlq — EventBridge "Step Functions Execution Status Change" (FAILED / TIMED_OUT / ABORTED):
  `detail.input` (a JSON string) has call_id. Unless the event is about an older execution than the call's latest
  (a re-drive started since) or the call is COMPLETED: FAILED ("workflow TIMED_OUT after N s"), transcription slot
  given back, announced. Executions that went through RecordFailure find the call FAILED and announced: nothing
  happens.

Idempotent: the same message twice changes nothing the second time and publishes nothing (`failure_notified`).
A message of neither shape raises (it is retried, then lands in the consumer's own dead-letter queue).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from call_analytics.errors import PermanentError
from call_analytics.logic.common import failure_reason, utc_now
from call_analytics.logic.record_failure import fail_call
from call_analytics.models import (
    AsyncInvokeFailure,
    CallState,
    CallStatus,
    DeadLetterResult,
    ExecutionEnded,
    FailureResult,
)
from call_analytics.observability import bind_call, logger
from call_analytics.recordings import UploadedObject, skip_reason, uploaded_objects
from call_analytics.settings import DeadLettersSettings

EXECUTION_EVENT_SOURCE = "aws.states"
EXECUTION_EVENT_TYPE = "Step Functions Execution Status Change"
#: execution endings that may have bypassed RecordFailure
ENDED_OUTSIDE_CATCH = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
#: failure_error when the event names no error (Step Functions' own name for a timeout)
DEFAULT_ERROR = {"TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted", "FAILED": "States.Unknown"}
#: statuses of a call whose execution has started (start_call moves RECEIVED -> QUEUED after StartExecution)
IN_WORKFLOW = frozenset({CallStatus.QUEUED, CallStatus.TRANSCRIBING, CallStatus.ANALYZING})
_REDRIVE_SUFFIX = re.compile(r"-r\d+$")


@dataclass
class DeadLetterDeps:
    settings: DeadLettersSettings
    calls: Any  # CallsTable
    notifier: Any  # Notifier
    workflow: Any  # Workflow (execution_status)
    semaphore: Any | None = None  # TranscriptionSemaphore
    now: Callable[[], datetime] = field(default=utc_now)


def handle_dead_letter(body: Any, deps: DeadLetterDeps) -> list[DeadLetterResult]:
    """One SQS message body (parsed JSON) of either shape -> what was done, per call."""
    if isinstance(body, dict) and body.get("source") == EXECUTION_EVENT_SOURCE:
        try:
            event = ExecutionEnded.model_validate(body)
        except ValidationError as exc:
            raise PermanentError(f"malformed Step Functions status-change event: {exc}") from None
        return [execution_ended(event, deps)]
    if isinstance(body, dict) and "requestPayload" in body and "requestContext" in body:
        try:
            failure = AsyncInvokeFailure.model_validate(body)
        except ValidationError as exc:
            raise PermanentError(f"malformed Lambda on-failure record: {exc}") from None
        return start_call_failed(failure, deps)
    keys = sorted(body)[:10] if isinstance(body, dict) else type(body).__name__
    raise PermanentError(f"unrecognised dead letter (neither a Lambda on-failure record nor a Step Functions "
                         f"status-change event): {keys}")


# ---- start_call gave up ------------------------------------------------------------------------------
def start_call_failed(failure: AsyncInvokeFailure, deps: DeadLetterDeps) -> list[DeadLetterResult]:
    if failure.requestPayload.get("Event") == "s3:TestEvent":  # S3 checking a notification target: not a call
        return [DeadLetterResult(source="start_call", outcome="skipped", reason="s3:TestEvent")]
    if not isinstance(failure.requestPayload.get("Records"), list):
        raise PermanentError("the on-failure record's requestPayload is not an S3 event (no Records)")
    error_type, reason = start_call_reason(failure)
    return [_upload_failed(obj, error_type, reason, deps) for obj in uploaded_objects(failure.requestPayload)]


def start_call_reason(failure: AsyncInvokeFailure) -> tuple[str, str]:
    """(failure_error, failure_reason): the function's error if it answered one, else the destination condition."""
    context = failure.requestContext
    payload = failure.responsePayload if isinstance(failure.responsePayload, dict) else {}
    error_type = str(payload.get("errorType") or context.condition)
    attempts = f" after {context.approximateInvokeCount} attempts" if context.approximateInvokeCount else ""
    what = f"start_call gave up{attempts} ({context.condition})"
    message = str(payload.get("errorMessage") or "").strip()
    if not message and isinstance(failure.responsePayload, str):
        message = failure.responsePayload.strip()
    if context.condition == "EventAgeExceeded" and not message:
        message = "the upload event was throttled for longer than its maximum age"
    return error_type, f"{what}: {error_type}: {message}" if message else f"{what}: {error_type}"


def _upload_failed(obj: UploadedObject, error_type: str, reason: str, deps: DeadLetterDeps) -> DeadLetterResult:
    s = deps.settings
    skipped = skip_reason(obj, recordings_bucket=s.RECORDINGS_BUCKET,
                          ignored_prefixes=(s.RESULTS_PREFIX, s.PROFILES_PREFIX))
    if skipped:  # start_call would not have made a call of it either
        return DeadLetterResult(source="start_call", outcome="skipped", reason=skipped)
    call_id = obj.call_id
    bind_call(call_id)
    record = deps.calls.get_call(call_id) or {}
    status = record.get("status")
    if status in CallStatus.DONE:  # COMPLETED or PARTIAL
        return DeadLetterResult(source="start_call", outcome="completed", call_id=call_id,
                                reason="the call completed (a later attempt succeeded)")
    if status != CallStatus.FAILED:
        if record.get("execution_arn") or status in IN_WORKFLOW:
            return DeadLetterResult(source="start_call", outcome="running", call_id=call_id,
                                    reason=f"the call has an execution (status {status})")
        execution = deps.workflow.execution_status(call_id)
        if execution is not None:  # started, then start_call failed before recording it: the execution owns it
            return DeadLetterResult(source="start_call", outcome="running", call_id=call_id,
                                    reason=f"execution {call_id} exists ({execution})")
    recording = {"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id}
    fields = {name: value for name, value in (("recording_version_id", obj.version_id),
                                              ("recording_etag", obj.etag), ("recording_size", obj.size))
              if value is not None}
    result = fail_call(call_id, error_type=error_type, reason=reason, profile=record.get("profile"),
                       recording=recording, calls=deps.calls, notifier=deps.notifier, now=deps.now,
                       fields=fields, spare_completed=True)
    return _outcome("start_call", call_id, result)


# ---- an execution ended outside the Catch ---------------------------------------------------------
def call_id_of_execution(name: str) -> str:
    """Executions are named `<call_id>` (start_call) or `<call_id>-r<n>` (re-drives)."""
    return _REDRIVE_SUFFIX.sub("", name)


def execution_ended(event: ExecutionEnded, deps: DeadLetterDeps) -> DeadLetterResult:
    detail = event.detail
    state_input = _json_object(detail.input)
    call_id = str(state_input.get("call_id") or call_id_of_execution(detail.name))
    bind_call(call_id)
    if detail.status not in ENDED_OUTSIDE_CATCH:
        return DeadLetterResult(source="workflow", outcome="skipped", call_id=call_id,
                                reason=f"execution status {detail.status}")
    record = deps.calls.get_call(call_id) or {}
    stale = _stale(record, detail.executionArn, detail.stopDate)
    if stale:
        logger.info("event of an older execution", extra={"execution_arn": detail.executionArn, "why": stale})
        return DeadLetterResult(source="workflow", outcome="stale", call_id=call_id, reason=stale)
    if record.get("status") in CallStatus.DONE:
        return DeadLetterResult(source="workflow", outcome="completed", call_id=call_id,
                                reason="the call completed before its execution ended")

    error_type = detail.error or DEFAULT_ERROR.get(detail.status, "States.Unknown")
    reason = f"workflow {detail.status}"
    if detail.startDate is not None and detail.stopDate is not None:
        reason += f" after {max(0, detail.stopDate - detail.startDate) // 1000} s"
    if detail.error or detail.cause:
        reason += f": {failure_reason(detail.error, detail.cause)}"
    try:
        state = CallState.model_validate({**state_input, "call_id": call_id})
    except ValidationError:
        state = CallState(call_id=call_id)
    recording = state.recording.model_dump(mode="json") if state.recording else None
    if recording is None and record.get("recording_key"):
        recording = {"bucket": record.get("recording_bucket"), "key": record["recording_key"],
                     "version_id": record.get("recording_version_id")}
    fields = {"transcript_id": state.transcript_id} if state.transcript_id else {}
    result = fail_call(call_id, error_type=error_type, reason=reason,
                       profile=state_input.get("profile") or record.get("profile"), recording=recording,
                       calls=deps.calls, notifier=deps.notifier, now=deps.now, semaphore=deps.semaphore,
                       fields=fields, spare_completed=True)
    return _outcome("workflow", call_id, result)


def _stale(record: dict[str, Any], execution_arn: str, stop_ms: int | None) -> str | None:
    """Why the event is about an older execution than the call's latest (None when it is the latest)."""
    latest = record.get("execution_arn")
    if latest and latest != execution_arn:
        return f"the call's latest execution is {latest.rsplit(':', 1)[-1]}"
    redriven_at = record.get("redriven_at")
    if redriven_at and stop_ms is not None:
        try:
            redriven_ms = datetime.fromisoformat(redriven_at).timestamp() * 1000
        except ValueError:
            return None
        if redriven_ms > stop_ms:  # re-driven after this execution ended; its own execution is starting
            return f"the call was re-driven at {redriven_at}, after this execution ended"
    return None


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _outcome(source: str, call_id: str, result: FailureResult | None) -> DeadLetterResult:
    if result is None:
        return DeadLetterResult(source=source, outcome="completed", call_id=call_id, reason="the call completed")
    return DeadLetterResult(source=source, outcome="failed" if result.notified else "already_failed",
                            call_id=call_id, reason=result.reason, notified=result.notified)
