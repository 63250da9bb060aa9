"""Sentiment questions: one answer per profile question, each quote checked against the transcript."""

from __future__ import annotations

from typing import Any

from call_analytics.analyses.json_extract import JsonNotFound, extract_json
from call_analytics.analyses.text_match import normalise, quote_in_text
from call_analytics.analyses.validation import TranscriptFacts, Validation, as_text


def validate_sentiment(raw: str, questions: list[str], facts: TranscriptFacts) -> Validation:
    try:
        data = extract_json(raw)
    except JsonNotFound as exc:
        return Validation(None, errors=[f"sentiment: {exc}"])
    return validate_sentiment_data(data, questions, facts)


def validate_sentiment_data(data: Any, questions: list[str], facts: TranscriptFacts) -> Validation:
    items = data.get("answers") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return Validation(None, errors=['sentiment: expected an object with an "answers" list'])
    errors: list[str] = []
    issues: list[str] = []
    by_question = {normalise(q): i for i, q in enumerate(questions)}
    matched: dict[int, dict[str, Any]] = {}
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            issues.append(f"answer {position + 1}: not an object; ignored")
            continue
        index = by_question.get(normalise(as_text(item.get("question"))))
        if index is None and not as_text(item.get("question")) and position < len(questions):
            index = position  # question text omitted: fall back to the order asked
            issues.append(f"answer {position + 1}: no question text; matched by position")
        if index is None:
            issues.append(f"answer {position + 1}: unexpected question {as_text(item.get('question'))!r}; ignored")
            continue
        if index in matched:
            issues.append(f"question {index + 1} answered twice; the first answer kept")
            continue
        matched[index] = item

    normalised_text = normalise(facts.text)
    answers = []
    for index, question in enumerate(questions):
        item = matched.get(index)
        if item is None:
            errors.append(f"sentiment: no answer for question {question!r}")
            continue
        answer = as_text(item.get("answer"))
        if not answer:
            errors.append(f"sentiment: empty answer for question {question!r}")
        reason, quote = as_text(item.get("reason")), as_text(item.get("quote")).strip("\"'“”‘’ ")
        if not reason:
            issues.append(f"question {index + 1}: no reason given")
        found = bool(quote) and quote_in_text(quote, normalised_text)
        if not quote:
            issues.append(f"question {index + 1}: no quote given")
        elif not found:
            issues.append(f"question {index + 1}: quote not found in the transcript: {quote[:80]!r}")
        answers.append({"question": question, "answer": answer, "reason": reason, "quote": quote, "quote_found": found})
    return Validation({"answers": answers}, errors=errors, issues=issues)
