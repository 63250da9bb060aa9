"""check_transcript: one poll of the AssemblyAI job; the next wait backs off; errors and deadlines raise."""

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
) -> PollState:
    if not state.transcript_id:
        raise PermanentError(f"call {state.call_id} has no transcript_id to poll")
    current = now()
    previous = state.poll or PollState(started_at=iso(current), wait_seconds=settings.POLL_INITIAL_SECONDS)
    transcript = aai.get_transcript(state.transcript_id)
    status = transcript.get("status")
    polls = previous.polls + 1
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
    logger.info("transcript polled", extra={"status": status, "polls": polls, "elapsed_seconds": round(elapsed)})
    return PollState(status=status, wait_seconds=next_wait_seconds(polls, settings), polls=polls,
                     started_at=previous.started_at)

