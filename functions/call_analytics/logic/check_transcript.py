"""check_transcript: one poll of the AssemblyAI job; the next wait backs off; errors and deadlines raise.

Wait policy (docs/architecture.md, "Completion detection"): the first wait is the expected processing time,
`first_wait_seconds` = max(POLL_INITIAL_SECONDS, audio seconds x POLL_EXPECTED_RTF) (capped at an hour);
after that each wait is POLL_INITIAL_SECONDS x POLL_BACKOFF^polls, capped at POLL_MAX_SECONDS. The
transcription slot is given back as soon as the job is `completed` or `error`.
"""

from __future__ import annotations

import math
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
from call_analytics.settings import CheckTranscriptSettings

KNOWN_STATUSES = ("queued", "processing", "completed", "error")


#: the first wait never exceeds this, whatever the duration estimate says
FIRST_WAIT_CAP_SECONDS = 3600


def first_wait_seconds(audio_duration: float | None, settings: Any) -> int:
    """Expected processing time: max(POLL_INITIAL_SECONDS, audio_duration x POLL_EXPECTED_RTF), at most an hour.
    Unknown duration -> POLL_INITIAL_SECONDS."""
    initial = settings.POLL_INITIAL_SECONDS
    if not audio_duration or audio_duration <= 0:
        return initial
    expected = math.ceil(audio_duration * settings.POLL_EXPECTED_RTF)
    return int(max(initial, min(FIRST_WAIT_CAP_SECONDS, expected)))


def next_wait_seconds(polls: int, settings: CheckTranscriptSettings) -> int:
    """POLL_INITIAL_SECONDS * POLL_BACKOFF^polls, capped at POLL_MAX_SECONDS."""
    wait = settings.POLL_INITIAL_SECONDS * settings.POLL_BACKOFF ** max(0, polls)
    return max(1, min(settings.POLL_MAX_SECONDS, math.ceil(wait)))


def check_transcript(
    state: CallState,
    *,
    settings: CheckTranscriptSettings,
    aai: Any,
    calls: Any,
    now: Callable[[], datetime] = utc_now,
    semaphore: Any | None = None,
) -> PollState:
    if not state.transcript_id:
        raise PermanentError(f"call {state.call_id} has no transcript_id to poll")
    current = now()
    previous = state.poll or PollState(started_at=iso(current), wait_seconds=settings.POLL_INITIAL_SECONDS)
    transcript = aai.get_transcript(state.transcript_id)
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
    return PollState(status=status, wait_seconds=next_wait_seconds(polls, settings), polls=polls,
                     started_at=previous.started_at, callbacks=callbacks)

