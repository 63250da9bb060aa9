"""Facts about a completed AssemblyAI transcript: duration, speakers, words, speech or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from call_analytics.analyses.validation import TranscriptFacts


@dataclass(frozen=True)
class TranscriptSummaryFacts:
    audio_duration: float | None
    word_count: int
    speakers: list[str]
    language_code: str | None
    text: str


def summarise(transcript: dict[str, Any]) -> TranscriptSummaryFacts:
    words = transcript.get("words") or []
    utterances = transcript.get("utterances") or []
    labels = {str(u.get("speaker") or u.get("channel")) for u in utterances if u.get("speaker") or u.get("channel")}
    if not labels:
        labels = {str(w.get("speaker") or w.get("channel")) for w in words if w.get("speaker") or w.get("channel")}
    text = (transcript.get("text") or "").strip()
    word_count = len(words) if words else len(text.split())
    return TranscriptSummaryFacts(
        audio_duration=effective_duration(transcript),
        word_count=word_count,
        speakers=sorted(labels),
        language_code=transcript.get("language_code"),
        text=text,
    )


def effective_duration(transcript: dict[str, Any]) -> float | None:
    """audio_duration is whole seconds; the last word may end a little later."""
    duration = transcript.get("audio_duration")
    words = transcript.get("words") or []
    last_word_end = (words[-1].get("end") or 0) / 1000 if words else 0
    candidates = [float(d) for d in (duration, last_word_end) if isinstance(d, (int, float)) and d > 0]
    return max(candidates) if candidates else None


def facts_for_validation(transcript: dict[str, Any]) -> TranscriptFacts:
    text = (transcript.get("text") or "").strip()
    if not text:
        text = " ".join(u.get("text", "") for u in transcript.get("utterances") or [])
    return TranscriptFacts(duration=effective_duration(transcript), text=text)
