"""Re-drive: run a call again in a new execution `<call_id>-r<n>`, from what its call record stores.

API contract (`python -m callctl redrive CALL|--failed` calls these; the deps come from plain boto3 clients):

    deps = RedriveDeps.from_clients(dynamodb=ddb, s3=s3, stepfunctions=sfn, calls_table="<CallsTableName>",
                                    bucket="<RecordingsBucketName>", state_machine_arn="<StateMachineArn>")
    redrive_call("c-3f2a…", deps, force=False) -> RedriveResult
    redrive_failed(deps, limit=100)            -> list[RedriveResult]   # every FAILED call, newest first

`RedriveResult` (call_analytics/models.py): `outcome` "started" (with `execution_name`, `execution_arn`, and
`resubmit`: True = transcribed again, False = the stored transcript is reused) or "skipped" (with `reason`:
unknown call, still running without `force`, failed for good without `force` (see below), no recording key, the
recording no longer exists (a call that never started), the profile no longer validates).

A call that failed for a permanent reason of its recording is not re-driven (it would be transcribed, and paid for,
again for the same answer) unless `force`: `InvalidRecording` (unsupported file type, empty object, gone) and an
AssemblyAI transcript error saying it is not audio or too short (`permanent_failure`).

What a re-drive does:
* the profile is re-read NOW (S3 override or bundled) and re-snapshotted to results/<call_id>/profile.json, so a
  re-drive also re-runs the analyses of an old call after a profile change;
* transcript `completed` (transcript_status on the record) -> the execution skips submission and polling and goes
  straight to FetchTranscript -> analyses -> FinalizeCall;
* a transcript id that is not known to be completed (the call failed while polling, e.g. a timeout) -> it polls
  that transcript again; after `TranscriptionFailed`, or without a transcript id -> a fresh submission (slot first);
* a call whose execution never started (start_call gave up after its retries; dead_letters recorded it FAILED with
  the recording's bucket/key/version) -> the recording is HEADed and the profile chosen as start_call would
  (metadata `profile`, a `profile=` key segment, else `default_profile`), then a fresh submission;
* the old analysis items are deleted, the record goes to QUEUED (history entry "re-drive r<n>") with the
  failure fields cleared, and the finished call is announced again (COMPLETED or FAILED).
Calls still in progress (RECEIVED/QUEUED/TRANSCRIBING/ANALYZING) are skipped unless `force=True` (use it for a
call whose execution was stopped or timed out and never reached RecordFailure).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.errors import CallAnalyticsError, InvalidProfile
from call_analytics.logic.common import iso, save_profile_snapshot, utc_now
from call_analytics.models import CallStatus, RedriveResult
from call_analytics.observability import logger
from call_analytics.profiles.loader import choose_profile_name

#: a transcript that failed this way is transcribed again rather than polled again
RESUBMIT_AFTER = frozenset({"TranscriptionFailed"})
DEFAULT_FAILED_LIMIT = 100
#: failures a re-drive cannot change: the recording itself is the problem
PERMANENT_ERRORS = frozenset({"InvalidRecording"})
#: AssemblyAI transcript errors about the recording (contract note §2: "File does not appear to contain audio. File
#: type is …", "Audio duration is too short.")
PERMANENT_TRANSCRIPT_ERRORS = re.compile(r"does not appear to contain audio|audio duration is too short", re.IGNORECASE)


@dataclass
class RedriveDeps:
    calls: Any  # CallsTable
    workflow: Any  # Workflow
    store: Any  # ResultsStore
    profiles: Any  # ProfileLoader
    bucket: str
    results_prefix: str = "results/"
    default_profile: str = "default"
    now: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_clients(cls, *, dynamodb: Any, s3: Any, stepfunctions: Any, calls_table: str, bucket: str,
                     state_machine_arn: str, results_prefix: str = "results/", profiles_prefix: str = "profiles/",
                     default_profile: str = "default") -> RedriveDeps:
        from call_analytics.adapters.calls_table import CallsTable
        from call_analytics.adapters.results_store import ResultsStore
        from call_analytics.adapters.workflow import Workflow
        from call_analytics.profiles.loader import ProfileLoader

        store = ResultsStore(s3)
        return cls(calls=CallsTable(calls_table, dynamodb), workflow=Workflow(state_machine_arn, stepfunctions),
                   store=store, profiles=ProfileLoader(store, bucket, profiles_prefix), bucket=bucket,
                   results_prefix=results_prefix, default_profile=default_profile)


def redrive_failed(deps: RedriveDeps, *, limit: int = DEFAULT_FAILED_LIMIT, force: bool = False) -> list[RedriveResult]:
    """Re-drive every FAILED call (newest first, at most `limit`); those that failed for good only with `force`."""
    return [redrive_call(record["call_id"], deps, force=force)
            for record in deps.calls.recent_by_status(CallStatus.FAILED, limit=limit)]


def permanent_failure(record: dict[str, Any]) -> str | None:
    """Why a FAILED call's recording can never succeed (its stored reason), or None when a re-drive may help."""
    if record.get("status") != CallStatus.FAILED:
        return None
    error, reason = record.get("failure_error") or "", record.get("failure_reason") or ""
    if error in PERMANENT_ERRORS or (error == "TranscriptionFailed" and PERMANENT_TRANSCRIPT_ERRORS.search(reason)):
        return reason or error
    return None


def redrive_call(call_id: str, deps: RedriveDeps, *, force: bool = False) -> RedriveResult:
    record = deps.calls.get_call(call_id)
    if record is None:
        return RedriveResult(call_id=call_id, outcome="skipped", reason="no such call")
    status = record.get("status")
    if status not in CallStatus.TERMINAL and not force:
        return RedriveResult(call_id=call_id, outcome="skipped",
                             reason=f"still in progress (status {status}); pass force to re-drive it anyway")
    hopeless = permanent_failure(record)
    if hopeless and not force:
        return RedriveResult(call_id=call_id, outcome="skipped",
                             reason=f"failed for good, a re-drive would give the same answer ({hopeless}); "
                                    "pass force to re-drive it anyway")
    if not record.get("recording_key"):
        return RedriveResult(call_id=call_id, outcome="skipped", reason="the call record has no recording key")
    bucket, key = record.get("recording_bucket") or deps.bucket, record["recording_key"]
    profile_name, size = record.get("profile"), record.get("recording_size")
    try:
        if not profile_name or size is None:
            # start_call never got this far (it gave up and dead_letters recorded the call): do what it would
            # have done, HEAD the recording and choose the profile from its metadata / key / the default
            try:
                head = deps.store.head(bucket, key, version_id=record.get("recording_version_id"))
            except ObjectMissing:
                return RedriveResult(call_id=call_id, outcome="skipped",
                                     reason=f"the recording s3://{bucket}/{key} no longer exists")
            size = size if size is not None else head["size"]
            profile_name = profile_name or choose_profile_name(key, head["metadata"], deps.default_profile)
        profile = deps.profiles.load(profile_name)
    except InvalidProfile as exc:
        return RedriveResult(call_id=call_id, outcome="skipped", reason=f"InvalidProfile: {exc}")
    save_profile_snapshot(deps.store, deps.bucket, deps.results_prefix, call_id, profile)

    transcript_id = record.get("transcript_id")
    completed = bool(transcript_id) and record.get("transcript_status") == "completed"
    resubmit = not transcript_id or (not completed and record.get("failure_error") in RESUBMIT_AFTER)
    number = deps.calls.increment(call_id, "redrives")
    name = f"{call_id}-r{number}"
    now = iso(deps.now())
    state: dict[str, Any] = {
        "call_id": call_id,
        "profile": profile.name,
        "recording": {"bucket": bucket, "key": key, "version_id": record.get("recording_version_id"),
                      "size": size},
    }
    if not resubmit:
        state["transcript_id"] = transcript_id
        state["poll"] = {"status": "completed" if completed else "queued", "wait_seconds": 1, "polls": 0,
                         "started_at": now}
    deps.calls.delete_analyses(call_id)
    fields: dict[str, Any] = {"profile": profile.name, "failure_notified": False, "completion_notified": False,
                              "failure_reason": None, "failure_error": None, "redriven_at": now,
                              "recording_size": size}
    if resubmit:
        fields.update(transcript_id=None, transcript_status=None)
    how = "reusing the completed transcript" if completed else ("polling transcript " + transcript_id
                                                                 if not resubmit else "transcribing again")
    deps.calls.set_status(call_id, CallStatus.QUEUED, detail=f"re-drive r{number} ({how}, profile {profile.name})",
                          fields=fields)
    try:
        execution_arn, _ = deps.workflow.start(name, state)
    except CallAnalyticsError as exc:
        reason = f"re-drive r{number} could not start its execution: {exc}"[:1000]
        deps.calls.set_status(call_id, CallStatus.FAILED, detail=reason,
                              fields={"failure_reason": reason, "failure_error": type(exc).__name__})
        raise
    deps.calls.update_fields(call_id, {"execution_arn": execution_arn})
    logger.info("call re-driven", extra={"call_id": call_id, "execution": name, "resubmit": resubmit})
    return RedriveResult(call_id=call_id, outcome="started", execution_name=name, execution_arn=execution_arn,
                         resubmit=resubmit)
