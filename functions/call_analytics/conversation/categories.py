"""Evaluate a profile's categories on one call (rules: profiles/categories.py; docs/data-model.md "Categories").

Three-valued: a rule is true, false, or undetermined (None) when its input is missing: an LLM question without
an answer (the analysis failed), a sentiment rule without sentiment data, a metric that does not apply. `all` /
`any` / `not` combine these the way SQL does (`not` of undetermined stays undetermined), and only a category that
is true matches: a failed LLM answer never raises an alert through a `not`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from call_analytics.conversation.metrics import Word, metric_value, quarter_summary
from call_analytics.conversation.roles import RoleMap
from call_analytics.profiles.categories import (
    COMPARISONS,
    AllRule,
    AnyRule,
    Category,
    MetricRule,
    NotRule,
    PhraseRule,
    QuestionRule,
    SentimentRule,
)

MAX_EVIDENCE_PER_RULE = 5
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


@dataclass
class CallFacts:
    """What the rules look at."""

    words: list[Word]
    roles: RoleMap
    metrics: dict[str, Any]
    answers: dict[str, dict[str, Any]]  # check question -> {"answer": "yes"|"no", "quote": ...}
    duration: float  # seconds: the audio, else the last word's end


@dataclass
class Outcome:
    value: bool | None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # why undetermined


def evaluate_categories(categories: list[Category], facts: CallFacts) -> list[dict[str, Any]]:
    results = []
    for category in categories:
        outcome = evaluate(category.rule, facts)
        entry: dict[str, Any] = {"name": category.name, "matched": outcome.value is True,
                                 "evidence": outcome.evidence if outcome.value else []}
        if outcome.value is None:
            entry["undetermined"] = sorted(set(outcome.missing))
        results.append(entry)
    return results


def evaluate(rule: Any, facts: CallFacts) -> Outcome:
    return _EVALUATORS[type(rule)](rule, facts)


def _all(rule: AllRule, facts: CallFacts) -> Outcome:
    parts = [evaluate(r, facts) for r in rule.all]
    if any(p.value is False for p in parts):
        return Outcome(False)
    if any(p.value is None for p in parts):
        return Outcome(None, missing=[m for p in parts for m in p.missing])
    return Outcome(True, [e for p in parts for e in p.evidence])


def _any(rule: AnyRule, facts: CallFacts) -> Outcome:
    parts = [evaluate(r, facts) for r in rule.any]
    if any(p.value is True for p in parts):
        return Outcome(True, [e for p in parts if p.value for e in p.evidence])
    if any(p.value is None for p in parts):
        return Outcome(None, missing=[m for p in parts for m in p.missing])
    return Outcome(False)


def _not(rule: NotRule, facts: CallFacts) -> Outcome:
    inner = evaluate(rule.not_, facts)
    if inner.value is None:
        return inner
    evidence = [] if inner.value else [{"kind": "not", "detail": "the negated rule did not match"}]
    return Outcome(not inner.value, evidence)


def _phrases(rule: PhraseRule, facts: CallFacts) -> Outcome:
    words = facts.words
    if rule.window and rule.window.first_seconds is not None:
        words = [w for w in words if w.start < rule.window.first_seconds]
    elif rule.window and rule.window.last_seconds is not None:
        words = [w for w in words if w.end > facts.duration - rule.window.last_seconds]
    if rule.role:
        words = [w for w in words if facts.roles.role_of(w.speaker) == rule.role]
    # one token list for the words in scope; each token remembers its word
    token_words: list[tuple[str, Word]] = [(t, w) for w in words for t in tokens(w.text)]
    stream = [t for t, _ in token_words]
    evidence = []
    for phrase in rule.phrases:
        wanted = tokens(phrase)
        if not wanted:
            continue
        for i in range(len(stream) - len(wanted) + 1):
            if stream[i:i + len(wanted)] == wanted:
                hit = [w for _, w in token_words[i:i + len(wanted)]]
                if any(a.speaker != b.speaker for a, b in zip(hit, hit[1:], strict=False)):
                    continue  # a phrase is said by one speaker
                first, last = hit[0], hit[-1]
                text = " ".join(dict.fromkeys(w.text for w in hit))
                evidence.append({"kind": "phrase", "phrase": phrase, "text": text,
                                 "role": facts.roles.role_of(first.speaker) or facts.roles.label_of(first.speaker),
                                 "start": round(first.start, 2), "end": round(last.end, 2)})
                if len(evidence) >= MAX_EVIDENCE_PER_RULE:
                    return Outcome(True, evidence)
    return Outcome(bool(evidence), evidence)


def _metric(rule: MetricRule, facts: CallFacts) -> Outcome:
    value = metric_value(facts.metrics, rule.metric, rule.role)
    name = f"{rule.metric}" + (f" ({rule.role})" if rule.role else "")
    if value is None:
        return Outcome(None, missing=[f"metric {name} does not apply to this call"])
    op, threshold = next(iter(rule.comparisons().items()))
    matched = COMPARISONS[op](value, threshold)
    return Outcome(matched, [{"kind": "metric", "metric": rule.metric, "role": rule.role, "value": value,
                              op: threshold}] if matched else [])


def _sentiment(rule: SentimentRule, facts: CallFacts) -> Outcome:
    table = facts.metrics.get("sentiment")
    if not table:
        return Outcome(None, missing=["no per-sentence sentiment in the transcript"])
    quarters = table.get(rule.role)
    if not quarters:
        return Outcome(None, missing=[f"no sentences of the {rule.role}"])
    if rule.quarter is None:
        counts = {k: sum(q[k] for q in quarters) for k in ("positive", "neutral", "negative")}
        summary = quarter_summary(0, counts)
    else:
        summary = quarters[rule.quarter - 1]
    if summary["label"] is None:
        where = f"quarter {rule.quarter}" if rule.quarter else "the call"
        return Outcome(None, missing=[f"no sentences of the {rule.role} in {where}"])
    matched = summary["label"] == rule.sentiment
    return Outcome(matched, [{"kind": "sentiment", "role": rule.role, "quarter": rule.quarter,
                              "label": summary["label"], "score": summary["score"],
                              "sentences": summary["sentences"]}] if matched else [])


def _question(rule: QuestionRule, facts: CallFacts) -> Outcome:
    answer = facts.answers.get(rule.question)
    if not answer or answer.get("answer") not in ("yes", "no"):
        return Outcome(None, missing=[f"no LLM answer to {rule.question!r}"])
    matched = answer["answer"] == rule.answer
    return Outcome(matched, [{"kind": "question", "question": rule.question, "answer": answer["answer"],
                              "quote": answer.get("quote") or ""}] if matched else [])


_EVALUATORS: dict[type, Callable[[Any, CallFacts], Outcome]] = {
    AllRule: _all, AnyRule: _any, NotRule: _not, PhraseRule: _phrases, MetricRule: _metric,
    SentimentRule: _sentiment, QuestionRule: _question,
}
