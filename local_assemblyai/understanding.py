"""Two audio-intelligence features of a transcript request, offline (docs/local-assemblyai.md):

* `sentiment_analysis: true` -> `sentiment_analysis_results`: one entry per sentence (`rendering.sentences`)
  with `sentiment` POSITIVE / NEUTRAL / NEGATIVE from the VADER lexicon (compound >= 0.05 positive, <= -0.05
  negative: VADER's own thresholds) and its confidence, speaker and channel, as AssemblyAI returns them.
* `speech_understanding.request.speaker_identification` with `speaker_type: "role"` and `known_values`: the
  speaker letters become the roles. The first known value is taken to be the one who answers the call (the
  agent): the speaker with the most agent cues in the opening (greeting, introducing themselves for a company,
  offering help), else the first voice; the other speakers take the other values in speaking order.
  `speaker_type: "name"` maps a letter to a known name the speaker says after "this is" / "my name is".
"""

from __future__ import annotations

import re
from typing import Any

from . import rendering
from .analyzers.sentiment import _vader_analyzer

_AGENT_CUES = re.compile(
    r"\b(thanks? (you )?for calling|how (can|may) i (help|assist)|\w+ speaking\b|customer (care|service|support)|"
    r"this is \w+( \w+)? (from|at|with)|let me (check|look|take a look)|is there anything else)", re.IGNORECASE)
_SELF_NAME = re.compile(r"\b(?:this is|my name is|i am|i'm)\s+([A-Z][a-z]+)")
OPENING_TURNS = 12

def sentence_sentiments(words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for sentence in rendering.sentences(words):
        scores = _vader_analyzer().polarity_scores(sentence["text"])
        compound = scores["compound"]
        label = "POSITIVE" if compound >= 0.05 else "NEGATIVE" if compound <= -0.05 else "NEUTRAL"
        confidence = scores["pos"] if label == "POSITIVE" else scores["neg"] if label == "NEGATIVE" else scores["neu"]
        results.append({"text": sentence["text"], "start": sentence["start"], "end": sentence["end"],
                        "sentiment": label, "confidence": round(float(confidence), 4),
                        "speaker": sentence.get("speaker"), "channel": sentence.get("channel")})
    return results


def _turns(words: list[dict[str, Any]]) -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for w in words:
        speaker = w.get("speaker")
        if not speaker:
            continue
        if turns and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {w['text']}")
        else:
            turns.append((speaker, w["text"]))
    return turns


def identify_speakers(words: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, str]:
    """speaker letter -> known value; {} when the request asks for nothing this engine does."""
    values = [str(v) for v in request.get("known_values") or [] if str(v).strip()]
    speakers = [s.get("name") or s.get("role") for s in request.get("speakers") or [] if isinstance(s, dict)]
    values = values or [str(v) for v in speakers if v]
    turns = _turns(words)
    order = list(dict.fromkeys(s for s, _ in turns))
    if not values or not order:
        return {}
    if request.get("speaker_type") == "name":
        mapping: dict[str, str] = {}
        for speaker, text in turns[:OPENING_TURNS]:
            for name in _SELF_NAME.findall(text):
                match = next((v for v in values if v.split()[0].lower() == name.lower()), None)
                if match and speaker not in mapping and match not in mapping.values():
                    mapping[speaker] = match
        return mapping
    score = {s: 0 for s in order}
    for speaker, text in turns[:OPENING_TURNS]:
        score[speaker] += len(_AGENT_CUES.findall(text))
    first = max(order, key=lambda s: (score[s], -order.index(s)))
    rest = [s for s in order if s != first]
    return {first: values[0], **dict(zip(rest, values[1:], strict=False))}


def apply_understanding(words: list[dict[str, Any]], params: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                                                       dict[str, Any] | None]:
    """The words with identified speakers, and the `speech_understanding` echo with its response."""
    understanding = params.get("speech_understanding")
    request = (understanding or {}).get("request") if isinstance(understanding, dict) else None
    identification = (request or {}).get("speaker_identification") if isinstance(request, dict) else None
    if not isinstance(identification, dict):
        return words, understanding if isinstance(understanding, dict) else None
    mapping = identify_speakers(words, identification)
    relabelled = [{**w, "speaker": mapping.get(w.get("speaker"), w.get("speaker"))} for w in words]
    response = {"speaker_identification": {"status": "success" if mapping else "unavailable",
                                           "mapping": mapping}}
    return relabelled, {"request": request, "response": response}
