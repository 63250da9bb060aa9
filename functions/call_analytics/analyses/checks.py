"""The categories' yes/no questions (`checks`): one yes or no per question, the quote checked against the transcript."""

from __future__ import annotations

from typing import Any

from call_analytics.analyses.schemas import CHECK_ANSWERS
from call_analytics.analyses.text_match import normalise, quote_in_text
from call_analytics.analyses.validation import TranscriptFacts, Validation, as_text

CHECKS_TASK = 'Answer each yes/no question "yes" or "no", with a short verbatim supporting quote ("" if none).'


def checks_text(questions: list[str]) -> str:
    return CHECKS_TASK + "\nQuestions:\n" + "\n".join(f"- {q}" for q in questions)


def validate_checks_data(data: Any, questions: list[str], facts: TranscriptFacts) -> Validation:
    items = data.get("checks") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return Validation(None, errors=['checks: expected a "checks" list'])
    by_question = {normalise(q): q for q in questions}
    answers: dict[str, dict[str, Any]] = {}
    issues: list[str] = []
    for position, item in enumerate(items):
        question = by_question.get(normalise(as_text(item.get("question")))) if isinstance(item, dict) else None
        if question is None:
            issues.append(f"check {position + 1}: not one of the questions asked; ignored")
            continue
        if question in answers:
            issues.append(f"check {question!r} answered twice; the first answer kept")
            continue
        answer = as_text(item.get("answer")).lower().rstrip(".")
        quote = as_text(item.get("quote")).strip("\"'“”‘’ ")
        verified = bool(quote) and quote_in_text(quote, normalise(facts.text))
        if quote and not verified:
            issues.append(f"check {question!r}: the quote is not in the transcript")
        answers[question] = {"question": question, "answer": answer, "quote": quote, "quote_verified": verified}
    errors = [f"checks: no answer for {q!r}" for q in questions if q not in answers]
    errors += [f"checks: answer {a['answer']!r} to {q!r} is not one of {list(CHECK_ANSWERS)}"
               for q, a in answers.items() if a["answer"] not in CHECK_ANSWERS]
    return Validation({"checks": [answers[q] for q in questions if q in answers]}, errors=errors, issues=issues)
