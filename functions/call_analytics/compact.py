"""The compact transcript rendering for the LLM (docs/architecture.md): one line per turn, its start second and
its speaker's role, the transcript stated once.

    Transcript (one line per turn: [start second] speaker: text):
    [12] Agent: Thanks for calling Northwind, this is Dana.
    [18] Customer: Hi.

A turn ends where the next one starts (the last one at the end of the audio), so end times are not repeated: the
analyses that place things in time (phases) answer in whole seconds, which is the resolution the validators and
readers use anyway. Built from utterances; without them (no speaker labels) words are grouped into sentence-like
lines. The local server's offline analyzers parse these lines (local_assemblyai/transcript_parse.py), also the
older `[12.4-17.9] A: ...` form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from call_analytics.conversation.roles import RoleMap

COMPACT_HEADER = "Transcript (one line per turn: [start second] speaker: text):"
UNKNOWN_SPEAKER = "Speaker"
_SENTENCE_END = (".", "?", "!")
_MAX_WORDS_PER_LINE = 40
_PAUSE_MS = 1500


def speaker_label(item: dict[str, Any], channel_names: dict[str, str] | None = None,
                  roles: RoleMap | None = None, multichannel: bool = False) -> str:
    """The profile's channel name, else the speaker's role (`Agent`), else the API's label (`A`)."""
    channel = item.get("channel")
    if channel_names and channel is not None and str(channel) in channel_names:
        return channel_names[str(channel)]
    if roles is not None and roles.speakers:
        from call_analytics.conversation.roles import speaker_id

        sid = speaker_id(item, multichannel)
        if sid is not None and roles.role_of(sid):
            return roles.label_of(sid)
    if item.get("speaker"):
        return str(item["speaker"])
    if channel is not None:
        return f"Channel {channel}"
    return UNKNOWN_SPEAKER


def transcript_lines(transcript: dict[str, Any], channel_names: dict[str, str] | None = None,
                     roles: RoleMap | None = None) -> list[dict[str, Any]]:
    """[{start, end (seconds), speaker, text}] from utterances, else from words."""
    from call_analytics.conversation.roles import is_multichannel

    multichannel = is_multichannel(transcript)
    utterances = transcript.get("utterances") or []
    if utterances:
        return [
            {
                "start": u["start"] / 1000,
                "end": u["end"] / 1000,
                "speaker": speaker_label(u, channel_names, roles, multichannel),
                "text": (u.get("text") or "").strip(),
            }
            for u in utterances
            if (u.get("text") or "").strip()
        ]
    return _group_words(transcript.get("words") or [],
                        lambda item: speaker_label(item, channel_names, roles, multichannel))


def _group_words(words: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []

    def flush() -> None:
        if current:
            lines.append(
                {
                    "start": current[0]["start"] / 1000,
                    "end": current[-1]["end"] / 1000,
                    "speaker": label(current[0]),
                    "text": " ".join(w["text"] for w in current),
                }
            )
            current.clear()

    for word in words:
        if current and (
            label(word) != label(current[-1])
            or word["start"] - current[-1]["end"] > _PAUSE_MS
        ):
            flush()
        current.append(word)
        if word["text"].endswith(_SENTENCE_END) or len(current) >= _MAX_WORDS_PER_LINE:
            flush()
    flush()
    return lines


def render_compact(transcript: dict[str, Any], channel_names: dict[str, str] | None = None,
                   roles: RoleMap | None = None) -> str:
    body = "\n".join(
        f"[{math.floor(line['start'])}] {line['speaker']}: {line['text']}"
        for line in transcript_lines(transcript, channel_names, roles)
    )
    return f"{COMPACT_HEADER}\n{body}\n"
