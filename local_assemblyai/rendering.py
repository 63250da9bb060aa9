"""Turn engine words into AssemblyAI response shapes: transcript fields, sentences, paragraphs, captions.

Everything here is pure and I/O-free. Texts are built by joining word texts with single spaces,
so every sentence/utterance text is an exact substring of the transcript `text`.
"""

from __future__ import annotations

import re
from typing import Any

_SENTENCE_END = re.compile(r"[.?!]['\")\]]*$")
_PUNCT = re.compile(r"[^\w\s'$%-]")


def apply_text_options(words: list[dict], punctuate: bool = True, format_text: bool = True) -> list[dict]:
    """`punctuate=false` strips punctuation; `format_text=false` lower-cases (as the real API does)."""
    if punctuate and format_text:
        return [dict(w) for w in words]
    out = []
    for w in words:
        text = w["text"]
        if not punctuate:
            text = _PUNCT.sub("", text)
        if not format_text:
            text = text.lower()
        if text:
            out.append({**w, "text": text})
    return out


def _mean_conf(words: list[dict]) -> float:
    return round(sum(w["confidence"] for w in words) / len(words), 4) if words else 0.0


def _span(words: list[dict], **extra: Any) -> dict[str, Any]:
    return {"text": " ".join(w["text"] for w in words), "start": words[0]["start"], "end": words[-1]["end"],
            "confidence": _mean_conf(words), "words": [dict(w) for w in words], **extra}


def utterances(words: list[dict]) -> list[dict[str, Any]]:
    """Consecutive words of one speaker form an utterance (a speaker turn)."""
    groups: list[list[dict]] = []
    for w in words:
        if groups and groups[-1][-1].get("speaker") == w.get("speaker"):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [_span(g, speaker=g[0].get("speaker"), channel=g[0].get("channel")) for g in groups]


def sentences(words: list[dict]) -> list[dict[str, Any]]:
    """Split at sentence-final punctuation and at speaker changes."""
    groups: list[list[dict]] = []
    for w in words:
        if groups and groups[-1][-1].get("speaker") == w.get("speaker") \
                and not _SENTENCE_END.search(groups[-1][-1]["text"]):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [_span(g, speaker=g[0].get("speaker"), channel=g[0].get("channel")) for g in groups]


def paragraphs(words: list[dict], max_gap_ms: int = 1500) -> list[dict[str, Any]]:
    """Sentences of one speaker without a long pause between them form a paragraph."""
    groups: list[list[dict]] = []
    for s in sentences(words):
        if groups and groups[-1][-1].get("speaker") == s["words"][0].get("speaker") \
                and s["start"] - groups[-1][-1]["end"] <= max_gap_ms:
            groups[-1].extend(s["words"])
        else:
            groups.append(list(s["words"]))
    return [_span(g) for g in groups]


def transcript_fields(words: list[dict], with_utterances: bool) -> dict[str, Any]:
    return {
        "text": " ".join(w["text"] for w in words),
        "words": words,
        "utterances": utterances(words) if with_utterances else None,
        "confidence": _mean_conf(words) if words else None,
    }


# -- captions ------------------------------------------------------------------------------

def caption_cues(words: list[dict], chars_per_caption: int | None = None, max_gap_ms: int = 1000) -> list[dict]:
    """Group words into cues of at most `chars_per_caption` characters (a word longer than the limit
    gets its own cue). Cues also break at speaker changes and long pauses."""
    limit = chars_per_caption if chars_per_caption and chars_per_caption > 0 else 80
    cues: list[list[dict]] = []
    for w in words:
        if cues:
            cur = cues[-1]
            length = sum(len(x["text"]) for x in cur) + len(cur) - 1
            same_speaker = cur[-1].get("speaker") == w.get("speaker")
            if length + 1 + len(w["text"]) <= limit and same_speaker and w["start"] - cur[-1]["end"] <= max_gap_ms:
                cur.append(w)
                continue
        cues.append([w])
    return [{"start": c[0]["start"], "end": c[-1]["end"], "text": " ".join(x["text"] for x in c)} for c in cues]


def _ts(ms: int, sep: str, force_hours: bool) -> str:
    h, rem = divmod(int(ms), 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    if force_hours or h:
        return f"{h:02d}:{m:02d}:{s:02d}{sep}{milli:03d}"
    return f"{m:02d}:{s:02d}{sep}{milli:03d}"


def to_vtt(words: list[dict], chars_per_caption: int | None = None) -> str:
    """WEBVTT with `MM:SS.mmm` times (hours only when needed), a blank line after each cue."""
    body = "".join(f"{_ts(c['start'], '.', False)} --> {_ts(c['end'], '.', False)}\n{c['text']}\n\n"
                   for c in caption_cues(words, chars_per_caption))
    return "WEBVTT\n\n" + body


def to_srt(words: list[dict], chars_per_caption: int | None = None) -> str:
    cues = caption_cues(words, chars_per_caption)
    blocks = [f"{i}\n{_ts(c['start'], ',', True)} --> {_ts(c['end'], ',', True)}\n{c['text']}"
              for i, c in enumerate(cues, 1)]
    return "\n\n".join(blocks) + "\n" if blocks else ""
