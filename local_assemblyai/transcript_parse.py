"""Parse the transcript an LLM request carries: VTT cues or compact `[s-e] SPEAKER: text` lines.

The offline analyzers work on `Line`s (start/end in seconds, optional speaker, text). Each line's
text is an exact substring of the message it came from, so quotes taken from lines are verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    start: float
    end: float
    speaker: str | None
    text: str


_VTT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_VTT_CUE = re.compile(rf"^\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}[^\n]*$", re.MULTILINE)
#: `[12.4-17.9] A: text` or the lean `[12] Agent: text` (start only: a turn ends where the next one starts)
_COMPACT = re.compile(r"^\s*\[(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\]\s*(?:([^:\n]{1,40}):\s+)?(.+?)\s*$",
                      re.MULTILINE)
#: the last start-only line's end: its words at an ordinary speaking rate (about 170 words per minute)
SECONDS_PER_WORD = 0.35
_VTT_VOICE = re.compile(r"^<v\s+([^>]+)>(.*)$")


def _secs(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_vtt(text: str) -> list[Line]:
    """Cues of a WEBVTT document (with or without blank lines between cues)."""
    lines: list[Line] = []
    matches = list(_VTT_CUE.finditer(text))
    for i, m in enumerate(matches):
        body_end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        # The cue body runs to the first blank line (or the next cue, for whitespace-collapsed VTT).
        raw_body = text[m.end():body_end].strip("\n")
        raw_body = re.split(r"\n[ \t]*\n", raw_body, maxsplit=1)[0]
        body = [ln.strip() for ln in raw_body.splitlines() if ln.strip()]
        if i + 1 < len(matches) and body and body[-1].isdigit():
            body = body[:-1]  # a numeric cue identifier of the next cue
        if not body:
            continue
        cue_text = " ".join(body)
        speaker = None
        voice = _VTT_VOICE.match(cue_text)
        if voice:
            speaker, cue_text = voice.group(1).strip(), voice.group(2).strip()
        lines.append(Line(_secs(*m.groups()[0:4]), _secs(*m.groups()[4:8]), speaker, cue_text))
    return lines


def parse_compact(text: str) -> list[Line]:
    matches = list(_COMPACT.finditer(text))
    lines = []
    for i, m in enumerate(matches):
        start = float(m.group(1))
        if m.group(2) is not None:
            end = float(m.group(2))
        elif i + 1 < len(matches):
            end = max(start, float(matches[i + 1].group(1)))
        else:
            end = start + max(1.0, len(m.group(4).split()) * SECONDS_PER_WORD)
        lines.append(Line(start, end, (m.group(3) or "").strip() or None, m.group(4)))
    return lines


def parse_transcript(text: str) -> list[Line]:
    """VTT cues if present, else compact lines, else nothing."""
    return parse_vtt(text) or parse_compact(text)


def lines_from_utterances(utterances: list[dict]) -> list[Line]:
    """Lines from a stored transcript's utterances or sentences (start/end in ms)."""
    return [Line(u["start"] / 1000, u["end"] / 1000, u.get("speaker"), u["text"]) for u in utterances]
