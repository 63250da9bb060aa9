"""WebVTT parsing as AssemblyAI serves it (and as W3C allows): `MM:SS.mmm` or `HH:MM:SS.mmm`, blank lines
between cues or not, optional cue ids, CRLF, a `WEBVTT` header, NOTE/STYLE blocks, cue settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str
    cue_id: str | None = None


class VttError(ValueError):
    """The text is not WebVTT."""


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def parse_vtt(text: str) -> list[Cue]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    if not lines or not lines[0].strip().startswith("WEBVTT"):
        raise VttError("missing WEBVTT header")
    cues: list[Cue] = []
    index = 1
    pending_id: str | None = None
    skipping_block = False
    while index < len(lines):
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped:
            pending_id, skipping_block = None, False
            continue
        match = _TIMING.match(line)
        if not match:
            if skipping_block:
                continue
            if stripped.startswith(("NOTE", "STYLE", "REGION")) and pending_id is None:
                skipping_block = True
                continue
            # a cue id (the line right before a timing line) or stray text
            pending_id = stripped
            continue
        g = match.groups()
        start, end = _seconds(*g[0:4]), _seconds(*g[4:8])
        text_lines: list[str] = []
        while index < len(lines) and lines[index].strip() and not _TIMING.match(lines[index]):
            # without blank lines, a numeric line right before a timing line is the next cue's id
            next_is_timing = index + 1 < len(lines) and _TIMING.match(lines[index + 1])
            if next_is_timing and text_lines and lines[index].strip().isdigit():
                break
            text_lines.append(lines[index].strip())
            index += 1
        cues.append(Cue(start=start, end=end, text=" ".join(text_lines), cue_id=pending_id))
        pending_id = None
    return cues


def cues_text(cues: list[Cue]) -> str:
    return " ".join(c.text for c in cues if c.text)
