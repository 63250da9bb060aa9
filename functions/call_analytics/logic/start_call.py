"""start_call: an uploaded recording -> validated profile + snapshot, call record (RECEIVED -> QUEUED),
Step Functions execution. The execution itself gets a transcription slot and submits (submit_transcription),
so a burst of uploads never fails on AssemblyAI's concurrency: the calls queue in their executions.

Duplicates are harmless three times over: Powertools idempotency on bucket+key+version (replayed S3
events), the call record (an execution_arn means started), and the execution name (= call_id;
ExecutionAlreadyExists means it is already running).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.conversation.roles import OVERRIDE_METADATA_KEY, ROLE_OVERRIDE_FIELD, parse_override
from call_analytics.errors import PERMANENT_CALL_ERRORS, InvalidRecording
from call_analytics.logic.common import iso, save_profile_snapshot, utc_now
from call_analytics.logic.live_insights import EXTERNAL_CALL_ID
from call_analytics.logic.notifications import failure_message
from call_analytics.models import CallStatus, StartCallResult
from call_analytics.observability import MetricUnit, bind_call, logger, metrics
from call_analytics.profiles.loader import ProfileLoader, choose_profile_name
from call_analytics.recordings import UploadedObject, refusal_reason, skip_reason
from call_analytics.redaction import redact
from call_analytics.settings import StartCallSettings

IDEMPOTENCY_TTL_SECONDS = 6 * 3600
#: start_call moves a call to QUEUED only from RECEIVED
#: object metadata of an edge client's upload (edge_client/client.py): the live call's id, and who took the call
CALL_ID_METADATA_KEY = "call-id"
AGENT_ID_METADATA_KEY = "agent-id"
ACTIVE_OR_DONE = frozenset({CallStatus.QUEUED, CallStatus.TRANSCRIBING, CallStatus.ANALYZING, *CallStatus.DONE,
                            CallStatus.FAILED})


@dataclass
class StartCallDeps:
    settings: StartCallSettings
    store: Any  # ResultsStore
    calls: Any  # CallsTable
    workflow: Any  # Workflow
    notifier: Any  # Notifier
    profiles: ProfileLoader
    idempotency_store: Any | None = None  # Powertools persistence layer; None = no idempotency layer
    lambda_context: Any | None = None
    aai: Any | None = None  # unused since the state machine submits (kept for callers that still pass it)
    now: Callable[[], datetime] = field(default=utc_now)


def start_calls(objects: list[UploadedObject], deps: StartCallDeps) -> list[StartCallResult]:
    return [start_call(obj, deps) for obj in objects]


def start_call(obj: UploadedObject, deps: StartCallDeps) -> StartCallResult:
    s = deps.settings
    reason = skip_reason(
        obj, recordings_bucket=s.RECORDINGS_BUCKET, ignored_prefixes=(s.RESULTS_PREFIX, s.PROFILES_PREFIX)
    )
    if reason:
        logger.info("object skipped", extra={"bucket": obj.bucket, "key": obj.key, "reason": reason})
        return StartCallResult(outcome="skipped", bucket=obj.bucket, key=obj.key, reason=reason)
    bind_call(obj.call_id)
    payload = {"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id, "etag": obj.etag}
    if deps.idempotency_store is None:
        return StartCallResult.model_validate(_start(obj, deps))
    return _start_idempotently(obj, payload, deps)


def _start_idempotently(obj: UploadedObject, payload: dict[str, Any], deps: StartCallDeps) -> StartCallResult:
    from aws_lambda_powertools.utilities.idempotency import (
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    ran = []

    def work(upload: dict[str, Any]) -> dict[str, Any]:
        ran.append(True)
        return _start(obj, deps)

    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)
    if deps.lambda_context is not None:
        config.register_lambda_context(deps.lambda_context)
    guarded = idempotent_function(
        work, data_keyword_argument="upload", persistence_store=deps.idempotency_store, config=config,
        key_prefix="start_call",
    )
    try:
        result = StartCallResult.model_validate(guarded(upload=payload))
    except IdempotencyAlreadyInProgressError:
        return StartCallResult(outcome="duplicate", bucket=obj.bucket, key=obj.key, call_id=obj.call_id,
                               reason="the same upload is being processed by another invocation")
    if not ran:
        logger.info("duplicate event: returning the stored result", extra={"key": obj.key})
        return result.model_copy(update={"outcome": "duplicate", "reason": "event already processed"})
    return result


def _joined(obj: UploadedObject, deps: StartCallDeps) -> tuple[UploadedObject, dict[str, Any] | None, str | None]:
    """The upload under the call id its uploader chose (metadata `call-id`: the edge client's live call), its HEAD,
    and why a chosen id is refused (the call then fails under its own id)."""
    try:
        head = deps.store.head(obj.bucket, obj.key, version_id=obj.version_id)
    except ObjectMissing:
        return obj, None, None  # _head reports it
    wanted = (head.get("metadata") or {}).get(CALL_ID_METADATA_KEY)
    if not wanted:
        return obj, head, None
    if not EXTERNAL_CALL_ID.match(wanted):
        return obj, head, (f"metadata {CALL_ID_METADATA_KEY}={wanted!r}: a call id has letters, digits, '-' or '_', "
                           "at most 64 characters")
    return replace(obj, external_call_id=wanted), head, None


def _start(obj: UploadedObject, deps: StartCallDeps) -> dict[str, Any]:
    obj, early_head, refused_id = _joined(obj, deps)
    call_id = obj.call_id
    bind_call(call_id)
    existing = deps.calls.get_call(call_id)
    if existing and existing.get("status") == CallStatus.FAILED and not existing.get("failure_notified"):
        # an earlier attempt recorded the failure but could not announce it
        return _fail(obj, deps, existing.get("failure_error") or "Error", existing.get("failure_reason") or "",
                     existing.get("profile"))
    if existing and (existing.get("execution_arn") or existing.get("status") == CallStatus.FAILED):
        return _duplicate(obj, existing, "call already started")
    recording = {"recording_bucket": obj.bucket, "recording_key": obj.key, "recording_version_id": obj.version_id,
                 "recording_etag": obj.etag, "recording_size": obj.size}
    agent_id = ((early_head or {}).get("metadata") or {}).get(AGENT_ID_METADATA_KEY)
    if existing is None:
        deps.calls.create_call(call_id, status=CallStatus.RECEIVED, detail="upload received", agent_id=agent_id,
                               **recording)
    else:  # the live call's record (status LIVE): the recording joins it
        deps.calls.update_fields(call_id, {k: v for k, v in {**recording, "agent_id": agent_id}.items()
                                           if v is not None})
    profile_name = None
    try:
        if refused_id:
            raise InvalidRecording(refused_id)
        head = early_head or _head(obj, deps)
        # the profile name first: the FAILED notification of a refused upload carries it (subscribers filter on it)
        profile_name = choose_profile_name(obj.key, head["metadata"], deps.settings.DEFAULT_PROFILE)
        refusal = refusal_reason(obj.key, head["size"])
        if refusal:
            raise InvalidRecording(f"s3://{obj.bucket}/{obj.key}: {refusal}")
        profile = deps.profiles.load(profile_name)
        roles_override = parse_override(head["metadata"].get(OVERRIDE_METADATA_KEY), profile.roles.names)
        save_profile_snapshot(deps.store, deps.settings.RECORDINGS_BUCKET, deps.settings.RESULTS_PREFIX, call_id,
                              profile)
    except PERMANENT_CALL_ERRORS as exc:
        return _fail(obj, deps, type(exc).__name__, f"{type(exc).__name__}: {exc}", profile_name)

    # no transcript_id: the state machine starts with SubmitTranscription (slot, then submit)
    state = {
        "call_id": call_id,
        "profile": profile.name,
        "recording": {"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id, "size": head["size"]},
    }
    execution_arn, started_now = deps.workflow.start(call_id, state)
    # only from RECEIVED: the execution may already have moved the call on
    deps.calls.set_status(
        call_id, CallStatus.QUEUED, detail="execution started; waiting for a transcription slot",
        fields={"execution_arn": execution_arn, "profile": profile.name, "recording_size": head["size"],
                ROLE_OVERRIDE_FIELD: roles_override},
        only_if_not=ACTIVE_OR_DONE,
    )
    deps.calls.update_fields(call_id, {"execution_arn": execution_arn})
    if started_now:
        metrics.add_metric(name="CallsStarted", unit=MetricUnit.Count, value=1)
    logger.info("call started", extra={"profile": profile.name, "execution_arn": execution_arn,
                                        "started_now": started_now})
    return StartCallResult(outcome="started", bucket=obj.bucket, key=obj.key, call_id=call_id,
                           transcript_id=(existing or {}).get("transcript_id"),
                           execution_arn=execution_arn).model_dump(mode="json")


def _head(obj: UploadedObject, deps: StartCallDeps) -> dict[str, Any]:
    try:
        head = deps.store.head(obj.bucket, obj.key, version_id=obj.version_id)
    except ObjectMissing:
        raise InvalidRecording(f"s3://{obj.bucket}/{obj.key} no longer exists") from None
    return head


def _duplicate(obj: UploadedObject, existing: dict[str, Any], reason: str) -> dict[str, Any]:
    logger.info("duplicate upload event", extra={"status": existing.get("status")})
    return StartCallResult(
        outcome="duplicate", bucket=obj.bucket, key=obj.key, call_id=obj.call_id,
        transcript_id=existing.get("transcript_id"), execution_arn=existing.get("execution_arn"),
        reason=f"{reason} (status {existing.get('status')})",
    ).model_dump(mode="json")


def _fail(
    obj: UploadedObject, deps: StartCallDeps, error_type: str, reason: str, profile_name: str | None
) -> dict[str, Any]:
    """A permanent problem: record FAILED with the reason and announce it once, instead of crashing."""
    reason = redact(reason)[:1000]
    logger.warning("call failed at start", extra={"reason": reason})
    changed = deps.calls.set_status(
        obj.call_id, CallStatus.FAILED, detail=reason,
        fields={"failure_reason": reason, "failure_error": error_type, "profile": profile_name,
                "recording_bucket": obj.bucket, "recording_key": obj.key},
        only_if_not={CallStatus.FAILED}, must_exist=False,
    )
    if changed:
        metrics.add_metric(name="CallsFailed", unit=MetricUnit.Count, value=1)
    record = deps.calls.get_call(obj.call_id) or {}
    if not record.get("failure_notified"):
        message = failure_message(
            call_id=obj.call_id, profile=profile_name,
            recording={"bucket": obj.bucket, "key": obj.key, "version_id": obj.version_id},
            error_type=error_type, reason=record.get("failure_reason") or reason, at=iso(deps.now()),
        )
        deps.notifier.publish(message, status=CallStatus.FAILED, profile=profile_name)
        deps.calls.update_fields(obj.call_id, {"failure_notified": True})
    return StartCallResult(outcome="failed", bucket=obj.bucket, key=obj.key, call_id=obj.call_id,
                           reason=reason).model_dump(mode="json")
