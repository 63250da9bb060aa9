"""check_transcript: one poll of the AssemblyAI job; the next wait comes from the poll schedule; errors and
deadlines raise; an outage of the API is ridden out in the wait loop.

Wait policy: call_analytics/polling.py (docs/architecture.md, "Completion detection"): the first poll
POLL_INITIAL_SECONDS after submitting, then waits proportional to the time since submitting; the duration estimate
only ever brings a poll forward. The transcription slot is given back as soon as the job is `completed` or `error`.
A poll that fails with 429/5xx after the client's retries answers the last known status with the outage wait
(call_analytics/outages.py): TranscriptReady? sends it back to WaitForTranscript.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from call_analytics.errors import (
    PermanentError,
    TranscriptionFailed,
    TranscriptionTimeout,
    TransientError,
)
from call_analytics.logic.common import iso, utc_now
from call_analytics.models import CallState, PollState
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.outages import OUTAGE_ERRORS, ride_out
from call_analytics.polling import PollPolicy, poll_wait_seconds
from call_analytics.settings import CheckTranscriptSettings

KNOWN_STATUSES = ("queued", "processing", "completed", "error")
STEP = "CheckTranscript"


def first_wait_seconds(audio_duration: float | None, settings: Any) -> int:
    """The wait before the first poll: POLL_INITIAL_SECONDS, whatever the duration estimate says (a header may lie)."""
    return poll_wait_seconds(0, PollPolicy.from_settings(settings), estimated_duration=audio_duration)


def next_wait_seconds(elapsed: float, settings: Any, estimated_duration: float | None = None) -> int:
    return poll_wait_seconds(elapsed, PollPolicy.from_settings(settings), estimated_duration=estimated_duration)


def check_transcript(
    state: CallState,
    *,
    settings: CheckTranscriptSettings,
    aai: Any,
    calls: Any,
    now: Callable[[], datetime] = utc_now,
    semaphore: Any | None = None,
    jitter: Callable[[], float] = random.random,
) -> PollState:
    if not state.transcript_id:
        raise PermanentError(f"call {state.call_id} has no transcript_id to poll")
    current = now()
    previous = state.poll or PollState(started_at=iso(current), wait_seconds=settings.POLL_INITIAL_SECONDS)
    try:
        transcript = aai.get_transcript(state.transcript_id)
    except OUTAGE_ERRORS as exc:
        outage = ride_out(previous.outage, exc, step=STEP, budget_seconds=settings.OUTAGE_BUDGET_SECONDS,
                          now=current, jitter=jitter)
        metrics.add_metric(name="OutageWaits", unit=MetricUnit.Count, value=1)
        logger.warning("poll failed; waiting out the outage",
                       extra={"wait_seconds": outage.wait_seconds, "outage_waits": outage.waits,
                              "reason": outage.reason})
        return previous.model_copy(update={"wait_seconds": outage.wait_seconds, "outage": outage})
    status = transcript.get("status")
    polls = previous.polls + 1
    if status in ("completed", "error") and semaphore is not None:
        semaphore.release(state.call_id)  # AssemblyAI no longer works on it: let the next call in
    if status == "error":
        message = transcript.get("error") or "no reason given"
        raise TranscriptionFailed(f"AssemblyAI transcript {state.transcript_id} failed: {message}")
    if status not in KNOWN_STATUSES:
        raise TransientError(f"AssemblyAI transcript {state.transcript_id} has unexpected status {status!r}")
    started = datetime.fromisoformat(previous.started_at)
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    elapsed = (current - started).total_seconds()
    if status != "completed" and elapsed > settings.TRANSCRIPTION_TIMEOUT_SECONDS:
        raise TranscriptionTimeout(
            f"AssemblyAI transcript {state.transcript_id} still {status} after {elapsed:.0f}s "
            f"(limit {settings.TRANSCRIPTION_TIMEOUT_SECONDS}s, {polls} polls)"
        )
    if status != previous.status or status == "completed":
        calls.update_fields(state.call_id, {"transcript_status": status, "polls": polls})
    metrics.add_metric(name="TranscriptPolls", unit=MetricUnit.Count, value=1)
    if status == "completed":
        metrics.add_metric(name="TranscriptionSeconds", unit=MetricUnit.Seconds, value=max(0.0, elapsed))
    woken = state.callback is not None and state.callback.woken_by_webhook  # completion_webhook
    callbacks = previous.callbacks + (1 if woken else 0)
    logger.info("transcript polled", extra={"status": status, "polls": polls, "elapsed_seconds": round(elapsed),
                                            "woken_by_webhook": woken})
    estimate = state.slot.estimated_duration if state.slot else None
    return PollState(status=status, wait_seconds=next_wait_seconds(elapsed, settings, estimate), polls=polls,
                     started_at=previous.started_at, callbacks=callbacks)

