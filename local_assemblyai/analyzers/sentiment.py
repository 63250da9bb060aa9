"""Sentiment answers: VADER lexicon + MiniLM anchor similarity, aggregated per speaker.

Per line: score = 0.5 * VADER compound + 0.5 * clip(ANCHOR_SCALE * (cos(pos anchors) - cos(neg anchors)), -1, 1).
Label: positive if score > THRESHOLD, negative if < -THRESHOLD, else neutral. A question is routed by
its wording: "agent" -> the agent's lines, "customer"/"caller" -> the customer's, otherwise all lines.
Questions asking for a quote return the target speaker's line that best matches the question
(similarity) and carries the strongest sentiment. Quotes are verbatim line texts, so they are exact
substrings of the transcript.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .common import agent_speaker, customer_speaker, guess_roles

ANCHORS = {
    "positive": ["I am very happy with this, thank you so much.", "That is great news, I really appreciate it.",
                 "Wonderful, you have been very helpful."],
    "neutral": ["Could you give me the reference number?", "The appointment is on Tuesday at ten.",
                "Let me look that up in the system."],
    "negative": ["I am really frustrated and annoyed with this.", "This is unacceptable, the service is terrible.",
                 "I am disappointed, it still does not work."],
}
ANCHOR_SCALE = 5.0
THRESHOLD = 0.2

_vader = None
_vader_lock = threading.Lock()


def _vader_analyzer():
    global _vader
    with _vader_lock:
        if _vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _vader = SentimentIntensityAnalyzer()
    return _vader


@dataclass(frozen=True)
class LineSentiment:
    line: Line
    score: float
    label: str


def label_of(score: float) -> str:
    return "positive" if score > THRESHOLD else "negative" if score < -THRESHOLD else "neutral"


def score_lines(lines: list[Line], encoder: MiniLMEncoder) -> list[LineSentiment]:
    if not lines:
        return []
    vader = _vader_analyzer()
    emb = encoder.encode([ln.text for ln in lines])
    anchor = {k: encoder.encode(v).mean(axis=0) for k, v in ANCHORS.items()}
    margin = emb @ anchor["positive"] - emb @ anchor["negative"]
    out = []
    for ln, m in zip(lines, margin, strict=True):  # one embedding row per line
        score = 0.5 * vader.polarity_scores(ln.text)["compound"] + 0.5 * float(np.clip(ANCHOR_SCALE * m, -1, 1))
        out.append(LineSentiment(ln, round(score, 3), label_of(score)))
    return out


def _target(question: str, lines: list[Line]) -> tuple[str, str | None]:
    q = question.lower()
    if re.search(r"\b(agent|representative|rep|advisor|employee)\b", q):
        return "agent", agent_speaker(lines)
    if re.search(r"\b(customer|caller|client|consumer)\b", q):
        return "customer", customer_speaker(lines)
    return "call", None


def answer_question(question: str, scored: list[LineSentiment], encoder: MiniLMEncoder) -> dict:
    lines = [s.line for s in scored]
    who, speaker = _target(question, lines)
    if speaker is None and who != "call" and not any(ln.speaker for ln in lines):
        guessed = guess_roles(lines)  # no speaker labels: the lines whose words show the role
        pool = [s for s, g in zip(scored, guessed, strict=True) if g == who] or scored
    else:
        pool = [s for s in scored if speaker is None or s.line.speaker == speaker] or scored
    if not pool:
        return {"question": question, "answer": "Neutral: the transcript is empty.", "reason": "No speech.",
                "quote": ""}
    if re.search(r"\bquote\b", question, re.IGNORECASE):
        q = encoder.encode([question])[0]
        sims = encoder.encode([s.line.text for s in pool]) @ q
        pick = max(range(len(pool)), key=lambda i: sims[i] + 0.5 * abs(pool[i].score))
        chosen = pool[pick]
        return {"question": question, "answer": chosen.line.text,
                "reason": f"Of the {who}'s lines, this one best matches the question and carries the strongest "
                          f"sentiment ({chosen.label}, score {chosen.score:+.2f}).",
                "quote": chosen.line.text}
    scores = np.array([s.score for s in pool])
    mean = float(scores.mean())
    # Weight the end of the call more: how a call ends is what "overall" usually means.
    weights = np.linspace(1.0, 2.0, len(scores))
    weighted = float((scores * weights).sum() / weights.sum())
    label = label_of(weighted)
    half = max(1, len(scores) // 2)
    first, second = float(scores[:half].mean()), float(scores[half:].mean()) if len(scores) > 1 else mean
    trend = "improved" if second - first > 0.15 else "worsened" if first - second > 0.15 else "stayed about the same"
    if label == "positive":
        quote = max(pool, key=lambda s: s.score)
    elif label == "negative":
        quote = min(pool, key=lambda s: s.score)
    else:
        quote = min(pool, key=lambda s: abs(s.score - weighted))
    counts = {lab: sum(1 for s in pool if s.label == lab) for lab in ("positive", "neutral", "negative")}
    subject = "the call" if who == "call" else f"the {who}"
    return {
        "question": question,
        "answer": f"{label.capitalize()}: the sentiment of {subject} was {label} overall and {trend} "
                  f"from the first half to the second half.",
        "reason": f"{counts['positive']} positive, {counts['neutral']} neutral and {counts['negative']} negative "
                  f"lines (mean score {mean:+.2f}, end-weighted {weighted:+.2f}; first half {first:+.2f}, "
                  f"second half {second:+.2f}).",
        "quote": quote.line.text,
    }


def analyze_sentiment(lines: list[Line], questions: list[str], encoder: MiniLMEncoder) -> list[dict]:
    scored = score_lines(lines, encoder)
    return [answer_question(q, scored, encoder) for q in questions]
