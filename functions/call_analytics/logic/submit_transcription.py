"""submit_transcription: get a transcription slot (the DynamoDB semaphore), then submit the AssemblyAI job.

The first task of a fresh execution, in a wait loop: no free slot -> {acquired: false, wait_seconds} and the
state machine waits (WaitForSlot, SecondsPath) and calls again, until SLOT_WAIT_BUDGET_SECONDS is spent
(SlotWaitExceeded -> RecordFailure). With a slot: submit (the request built from the call's profile snapshot)
and answer {acquired: true, transcript_id, wait_seconds = the first poll wait (POLL_INITIAL_SECONDS: never from
the duration estimate, which a header can inflate)}. A submission that fails with 429/5xx after the client's retries
answers {acquired: false, wait_seconds = the outage wait, outage} (call_analytics/outages.py): the state machine
waits in WaitForSlot and calls again (the slot stays held; the outage budget, not the slot budget, is charged).

Idempotent: the semaphore holder is the call id (a retried attempt finds its own slot), and a transcript id
already on the call record (an attempt that died after submitting) is reused, never submitted twice.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.audio_probe import HEADER_BYTES, channels_from_header, channels_from_metadata, estimate_duration
from call_analytics.errors import PERMANENT_CALL_ERRORS, InvalidRecording, SlotWaitExceeded
from call_analytics.logic.check_transcript import first_wait_seconds
from call_analytics.logic.common import iso, load_call_profile, utc_now
from call_analytics.logic.transcription_request import transcript_params
from call_analytics.models import CallState, CallStatus, Recording, SlotState
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.outages import OUTAGE_ERRORS, ride_out
from call_analytics.profiles.loader import ProfileLoader
from call_analytics.settings import SubmitTranscriptionSettings

#: first wait for a slot; later waits double up to SLOT_WAIT_MAX_SECONDS (equal jitter: [w/2, w])
SLOT_WAIT_INITIAL_SECONDS = 5
#: a slot holder older than the transcription deadline plus this is presumed dead and reaped
SLOT_LEASE_MARGIN_SECONDS = 3600


@dataclass
class SubmitDeps:
    settings: SubmitTranscriptionSettings
    store: Any  # ResultsStore
    calls: Any  # CallsTable
    aai: Any  # AssemblyAIClient
    profiles: ProfileLoader
    semaphore: Any  # TranscriptionSemaphore
    now: Callable[[], datetime] = field(default=utc_now)
    jitter: Callable[[], float] = field(default=random.random)
    #: completion_webhook: the webhook_url + auth header fields of the request (None = polling only)
    webhook: Callable[[], dict[str, str]] | None = None


def slot_wait_seconds(attempts: int, settings: SubmitTranscriptionSettings, jitter: Callable[[], float]) -> int:
    """SLOT_WAIT_INITIAL_SECONDS x 2^(attempts-1), capped at SLOT_WAIT_MAX_SECONDS, equal jitter: waiting
    executions spread out instead of retrying in lock step."""
    ceiling = min(settings.SLOT_WAIT_MAX_SECONDS, SLOT_WAIT_INITIAL_SECONDS * 2 ** max(0, attempts - 1))
    return max(1, math.ceil(ceiling / 2 + jitter() * ceiling / 2))


def submit_transcription(state: CallState, deps: SubmitDeps) -> SlotState:
    s, call_id = deps.settings, state.call_id
    previous = state.slot
    attempts = previous.attempts + 1 if previous and not previous.acquired else 1
    waited = previous.waited_seconds if previous else 0

    held = deps.semaphore.acquire(call_id, s.TRANSCRIPTION_CONCURRENCY,
                                  stale_after_seconds=s.TRANSCRIPTION_TIMEOUT_SECONDS + SLOT_LEASE_MARGIN_SECONDS)
    if not held:
        wait = slot_wait_seconds(attempts, s, deps.jitter)
        if waited + wait > s.SLOT_WAIT_BUDGET_SECONDS:
            raise SlotWaitExceeded(
                f"no transcription slot became free in {waited}s ({attempts} attempts; "
                f"TRANSCRIPTION_CONCURRENCY={s.TRANSCRIPTION_CONCURRENCY}, SLOT_WAIT_BUDGET_SECONDS="
                f"{s.SLOT_WAIT_BUDGET_SECONDS})")
        metrics.add_metric(name="TranscriptionSlotWaits", unit=MetricUnit.Count, value=1)
        logger.info("no transcription slot free; waiting", extra={"attempts": attempts, "wait_seconds": wait})
        return SlotState(acquired=False, wait_seconds=wait, attempts=attempts, waited_seconds=waited + wait)

    try:
        record = deps.calls.get_call(call_id) or {}
        transcript_id = record.get("transcript_id")
        if transcript_id:  # an earlier attempt submitted, then died before answering
            logger.info("transcript already submitted; not submitting again", extra={"transcript_id": transcript_id})
            duration = record.get("estimated_duration")
        else:
            transcript_id, duration = _submit(state, record, deps)
    except PERMANENT_CALL_ERRORS:
        deps.semaphore.release(call_id)  # the call ends here (Catch -> RecordFailure): free the slot at once
        raise
    except OUTAGE_ERRORS as exc:
        try:
            outage = ride_out(previous.outage if previous else None, exc, step="SubmitTranscription",
                              budget_seconds=s.OUTAGE_BUDGET_SECONDS, now=deps.now(), jitter=deps.jitter)
        except Exception:
            deps.semaphore.release(call_id)  # budget spent: the call ends here
            raise
        metrics.add_metric(name="OutageWaits", unit=MetricUnit.Count, value=1)
        logger.warning("submission failed; waiting out the outage",
                       extra={"wait_seconds": outage.wait_seconds, "outage_waits": outage.waits,
                              "reason": outage.reason})
        return SlotState(acquired=False, wait_seconds=outage.wait_seconds, attempts=attempts, waited_seconds=waited,
                         outage=outage)
    metrics.add_metric(name="TranscriptsSubmitted", unit=MetricUnit.Count, value=1)
    return SlotState(acquired=True, wait_seconds=first_wait_seconds(duration, s), attempts=attempts,
                     waited_seconds=waited, transcript_id=transcript_id, submitted_at=iso(deps.now()),
                     estimated_duration=duration)


def _submit(state: CallState, record: dict[str, Any], deps: SubmitDeps) -> tuple[str, float | None]:
    s, call_id = deps.settings, state.call_id
    recording = state.recording or Recording(bucket=record.get("recording_bucket") or s.RECORDINGS_BUCKET,
                                             key=record.get("recording_key") or "",
                                             version_id=record.get("recording_version_id"))
    if not recording.key:
        raise InvalidRecording(f"call {call_id} has no recording key")
    profile = load_call_profile(deps.store, deps.profiles, s.RECORDINGS_BUCKET, s.RESULTS_PREFIX, call_id,
                                state.profile)
    try:
        head = deps.store.head(recording.bucket, recording.key, version_id=recording.version_id)
        header = deps.store.get_range(recording.bucket, recording.key, HEADER_BYTES, version_id=recording.version_id)
    except ObjectMissing:
        raise InvalidRecording(f"s3://{recording.bucket}/{recording.key} no longer exists") from None
    if not head.get("size"):
        raise InvalidRecording(f"s3://{recording.bucket}/{recording.key} is empty")
    channels = channels_from_metadata(head["metadata"]) or channels_from_header(header)
    duration, how = estimate_duration(header, head["size"])
    params = transcript_params(profile, audio_url=_audio_url(recording, head, deps), channels=channels)
    if deps.webhook is not None:
        params.update(deps.webhook())
    transcript = deps.aai.submit_transcript(params)
    transcript_id = transcript["id"]
    deps.calls.set_status(
        call_id, CallStatus.TRANSCRIBING, detail=f"transcript {transcript_id} submitted",
        fields={"transcript_id": transcript_id, "profile": profile.name, "audio_channels": channels,
                "multichannel": bool(params.get("multichannel")), "recording_size": head["size"],
                "estimated_duration": round(duration, 1) if duration is not None else None,
                "duration_estimate_source": how, "speech_models": list(params.get("speech_models") or [])},
        only_if_not=CallStatus.TERMINAL,
    )
    logger.info("transcript submitted", extra={"transcript_id": transcript_id, "estimated_duration": duration,
                                               "estimate_source": how})
    return transcript_id, duration


def _audio_url(recording: Recording, head: dict[str, Any], deps: SubmitDeps) -> str:
    s = deps.settings
    if s.AUDIO_DELIVERY == "upload":
        def opener():
            return deps.store.open_stream(recording.bucket, recording.key, version_id=recording.version_id)

        return deps.aai.upload(opener, size=head["size"])
    return deps.store.presign_get(recording.bucket, recording.key, expires_in=s.PRESIGN_TTL_SECONDS,
                                  version_id=recording.version_id)
