"""Conversation metrics from word timestamps, no LLM (definitions: docs/data-model.md "Conversation metrics").

Terms used below:
- a speaker's *span*: that speaker's words merged while the pause between two of their words is under
  SPAN_MERGE_SECONDS (talking with a short breath is still talking);
- a *turn*: a maximal run of words of one speaker, words ordered by start time;
- the *conversation*: from the first word's start to the last word's end (the lead-in before it and the tail
  after it are reported apart and excluded from non-talk time).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from call_analytics.conversation.roles import RoleMap, is_multichannel, speaker_id
from call_analytics.profiles.model import AGENT, CUSTOMER, MetricsOptions

SPAN_MERGE_SECONDS = 0.5
#: sentiment score (positive - negative) / sentences at or beyond which a quarter is labelled positive/negative
SENTIMENT_LABEL_THRESHOLD = 0.25
MAX_LISTED_SILENCES = 20

#: per-role metrics: a category rule names one with `role` (e.g. {"metric": "talk_share", "role": "agent"})
ROLE_METRICS = frozenset({"talk_seconds", "talk_share", "words", "words_per_minute", "turns",
                          "longest_monologue_seconds", "interruptions", "interruption_seconds"})
#: call-level metrics: a rule names one without `role`
CALL_METRICS = frozenset({"duration_seconds", "non_talk_seconds", "non_talk_share", "longest_silence_seconds",
                          "long_silences", "response_latency_median_seconds", "response_latency_max_seconds",
                          "turns_total"})
METRIC_NAMES = ROLE_METRICS | CALL_METRICS


@dataclass(frozen=True)
class Word:
    start: float  # seconds
    end: float
    text: str
    speaker: str  # speaker id (conversation.roles.speaker_id)


@dataclass(frozen=True)
class Interval:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def as_dict(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 2), "start": round(self.start, 2), "end": round(self.end, 2)}


def words_of(transcript: dict[str, Any]) -> list[Word]:
    multichannel = is_multichannel(transcript)
    words = []
    for w in transcript.get("words") or []:
        if w.get("start") is None or w.get("end") is None:
            continue
        words.append(Word(start=w["start"] / 1000, end=max(w["end"], w["start"]) / 1000, text=w.get("text") or "",
                          speaker=speaker_id(w, multichannel) or "?"))
    return sorted(words, key=lambda w: (w.start, w.end))


def spans(words: Iterable[Word], merge: float = SPAN_MERGE_SECONDS) -> list[Interval]:
    merged: list[Interval] = []
    for w in sorted(words, key=lambda w: w.start):
        if merged and w.start - merged[-1].end < merge:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, w.end))
        else:
            merged.append(Interval(w.start, w.end))
    return merged


def turns(words: list[Word]) -> list[tuple[str, list[Word]]]:
    runs: list[tuple[str, list[Word]]] = []
    for w in words:
        if runs and runs[-1][0] == w.speaker:
            runs[-1][1].append(w)
        else:
            runs.append((w.speaker, [w]))
    return runs


def union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: i.start):
        if out and iv.start <= out[-1].end:
            out[-1] = Interval(out[-1].start, max(out[-1].end, iv.end))
        else:
            out.append(iv)
    return out


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def conversation_metrics(transcript: dict[str, Any], roles: RoleMap, options: MetricsOptions) -> dict[str, Any]:
    words = words_of(transcript)
    audio_end = float(transcript.get("audio_duration") or 0)
    if not words:
        return {"duration_seconds": 0.0, "lead_in_seconds": _round(audio_end), "tail_seconds": 0.0, "roles": {},
                "non_talk": {"seconds": 0.0, "share": None, "longest_silence": None, "long_silences": []},
                "interruption_method": None, "response_latency": None, "turns_total": 0,
                "sentiment": sentiment_by_quarter(transcript, roles)}
    first, last = words[0].start, max(w.end for w in words)
    duration = max(last - first, 1e-9)
    name = {sid: roles.role_of(sid) or roles.label_of(sid).lower() for sid in {w.speaker for w in words}}
    by_speaker: dict[str, list[Word]] = {}
    for w in words:
        by_speaker.setdefault(w.speaker, []).append(w)
    speaker_spans = {sid: spans(ws) for sid, ws in by_speaker.items()}
    runs = turns(words)
    multichannel = is_multichannel(transcript)
    interruptions = (_overlap_interruptions(speaker_spans, options.min_overlap_seconds) if multichannel
                     else _turn_gap_interruptions(runs, options.interruption_gap_seconds))
    total_talk = sum(iv.seconds for ss in speaker_spans.values() for iv in ss)

    per_role: dict[str, dict[str, Any]] = {}
    for sid, ws in by_speaker.items():
        talk = sum(iv.seconds for iv in speaker_spans[sid])
        own_turns = [t for s, t in runs if s == sid]
        longest = max((Interval(t[0].start, max(x.end for x in t)) for t in own_turns), key=lambda i: i.seconds)
        count, seconds = interruptions.get(sid, (0, 0.0))
        entry = per_role.setdefault(name[sid], {"talk_seconds": 0.0, "words": 0, "turns": 0, "interruptions": 0,
                                                "interruption_seconds": 0.0, "longest_monologue": None,
                                                "speakers": []})
        entry["speakers"].append(sid)
        entry["talk_seconds"] += talk
        entry["words"] += len(ws)
        entry["turns"] += len(own_turns)
        entry["interruptions"] += count
        entry["interruption_seconds"] += seconds
        if entry["longest_monologue"] is None or longest.seconds > entry["longest_monologue"].seconds:
            entry["longest_monologue"] = longest
    for entry in per_role.values():
        talk = entry["talk_seconds"]
        entry["talk_share"] = _round(talk / total_talk if total_talk else None, 3)
        entry["words_per_minute"] = _round(entry["words"] / talk * 60 if talk > 0 else None, 1)
        entry["talk_seconds"] = _round(talk)
        entry["interruption_seconds"] = _round(entry["interruption_seconds"])
        entry["longest_monologue"] = entry["longest_monologue"].as_dict()
        entry["longest_monologue_seconds"] = entry["longest_monologue"]["seconds"]

    talking = union(iv for ss in speaker_spans.values() for iv in ss)
    silences = [Interval(a.end, b.start) for a, b in zip(talking, talking[1:], strict=False) if b.start > a.end]
    non_talk = sum(s.seconds for s in silences)
    longest_silence = max(silences, key=lambda s: s.seconds) if silences else None
    long_silences = [s.as_dict() for s in silences if s.seconds >= options.long_silence_seconds]
    return {
        "duration_seconds": _round(duration),
        "lead_in_seconds": _round(first),
        "tail_seconds": _round(max(0.0, audio_end - last)),
        "roles": per_role,
        "turns_total": len(runs),
        "non_talk": {"seconds": _round(non_talk), "share": _round(non_talk / duration, 3),
                     "longest_silence": longest_silence.as_dict() if longest_silence else None,
                     "long_silences": long_silences[:MAX_LISTED_SILENCES], "long_silence_count": len(long_silences),
                     "long_silence_threshold_seconds": options.long_silence_seconds},
        "interruption_method": "overlap" if multichannel else "turn_gap",
        "response_latency": _response_latency(runs, roles),
        "sentiment": sentiment_by_quarter(transcript, roles),
    }


def _overlap_interruptions(speaker_spans: dict[str, list[Interval]], min_overlap: float
                           ) -> dict[str, tuple[int, float]]:
    """Multichannel: a span of X that starts inside a span of another speaker and overlaps it at least
    `min_overlap` seconds is one interruption by X, for the overlapping seconds."""
    result: dict[str, tuple[int, float]] = {}
    for sid, own in speaker_spans.items():
        count, seconds = 0, 0.0
        others = [iv for other, ss in speaker_spans.items() if other != sid for iv in ss]
        for span in own:
            overlap = max((min(span.end, o.end) - span.start for o in others if o.start < span.start < o.end),
                          default=0.0)
            if overlap >= min_overlap:
                count, seconds = count + 1, seconds + overlap
        result[sid] = (count, seconds)
    return result


def _turn_gap_interruptions(runs: list[tuple[str, list[Word]]], max_gap: float) -> dict[str, tuple[int, float]]:
    """Mono: a turn that starts less than `max_gap` seconds after the previous speaker's last word is one
    interruption by its speaker (seconds: how far it started before that word ended, usually 0)."""
    result: dict[str, tuple[int, float]] = {}
    for (_, before), (sid, turn) in zip(runs, runs[1:], strict=False):
        gap = turn[0].start - before[-1].end
        if gap < max_gap:
            count, seconds = result.get(sid, (0, 0.0))
            result[sid] = (count + 1, seconds + max(0.0, -gap))
    return result


def _response_latency(runs: list[tuple[str, list[Word]]], roles: RoleMap) -> dict[str, Any] | None:
    """Agent response latency: from the customer's last word to the agent's first, at each customer -> agent
    turn change (overlap counts as 0)."""
    latencies = [max(0.0, turn[0].start - before[-1].end)
                 for (prev, before), (sid, turn) in zip(runs, runs[1:], strict=False)
                 if roles.role_of(prev) == CUSTOMER and roles.role_of(sid) == AGENT]
    if not latencies:
        return None
    return {"count": len(latencies), "median_seconds": _round(statistics.median(latencies)),
            "max_seconds": _round(max(latencies))}


def sentiment_by_quarter(transcript: dict[str, Any], roles: RoleMap) -> dict[str, list[dict[str, Any]]] | None:
    """AssemblyAI's per-sentence sentiment (`sentiment_analysis_results`) per role and quarter of the audio;
    None when the transcript has none (the profile did not ask: transcription.sentiment_analysis)."""
    results = transcript.get("sentiment_analysis_results")
    if not results:
        return None
    multichannel = is_multichannel(transcript)
    end = float(transcript.get("audio_duration") or 0) or max((r.get("end") or 0) for r in results) / 1000
    end = max(end, 1e-9)
    table: dict[str, list[dict[str, int]]] = {}
    for r in results:
        sid = speaker_id(r, multichannel)
        role = roles.role_of(sid) or roles.label_of(sid).lower()
        middle = ((r.get("start") or 0) + (r.get("end") or 0)) / 2000
        quarter = min(3, max(0, int(middle / end * 4)))
        counts = table.setdefault(role, [{"positive": 0, "neutral": 0, "negative": 0} for _ in range(4)])
        label = str(r.get("sentiment") or "").lower()
        if label in counts[quarter]:
            counts[quarter][label] += 1
    return {role: [quarter_summary(q + 1, c) for q, c in enumerate(quarters)] for role, quarters in table.items()}


def quarter_summary(quarter: int, counts: dict[str, int]) -> dict[str, Any]:
    n = sum(counts.values())
    score = (counts["positive"] - counts["negative"]) / n if n else None
    label = None
    if score is not None:
        label = ("positive" if score >= SENTIMENT_LABEL_THRESHOLD
                 else "negative" if score <= -SENTIMENT_LABEL_THRESHOLD else "neutral")
    return {"quarter": quarter, **counts, "sentences": n, "score": _round(score), "label": label}


def metric_value(metrics: dict[str, Any], name: str, role: str | None = None) -> float | None:
    """One number of a metrics document, by catalogue name (METRIC_NAMES); None when it does not apply."""
    if name in ROLE_METRICS:
        entry = (metrics.get("roles") or {}).get(role or "")
        if not entry:
            return 0.0 if name in ("talk_seconds", "talk_share", "words", "turns", "interruptions",
                                   "interruption_seconds") else None
        return entry.get(name)
    non_talk = metrics.get("non_talk") or {}
    latency = metrics.get("response_latency") or {}
    values = {
        "duration_seconds": metrics.get("duration_seconds"),
        "non_talk_seconds": non_talk.get("seconds"),
        "non_talk_share": non_talk.get("share"),
        "longest_silence_seconds": (non_talk.get("longest_silence") or {}).get("seconds", 0.0),
        "long_silences": non_talk.get("long_silence_count", 0),
        "response_latency_median_seconds": latency.get("median_seconds"),
        "response_latency_max_seconds": latency.get("max_seconds"),
        "turns_total": metrics.get("turns_total"),
    }
    return values.get(name)
