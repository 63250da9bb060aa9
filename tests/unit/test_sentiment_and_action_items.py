"""Sentiment answers with quote checks; action items from JSON or bullet points."""

from __future__ import annotations

import json

import pytest
from call_analytics.analyses.action_items import validate_action_items
from call_analytics.analyses.json_extract import JsonNotFound, extract_json
from call_analytics.analyses.sentiment import validate_sentiment
from call_analytics.analyses.text_match import normalise, quote_in_text
from call_analytics.analyses.validation import TranscriptFacts

QUESTIONS = ["What was the overall sentiment of the call?", "What was the sentiment of the agent in this call?"]
TEXT = ("Thanks for calling Northwind, this is Dana. Hi Dana, my order never arrived and I'm upset. "
        "I don't see a tracking number... I'll refund it today.")
FACTS = TranscriptFacts(duration=60, text=TEXT)


def answer(question, quote, answer_text="Positive.", reason="Because."):
    return {"question": question, "answer": answer_text, "reason": reason, "quote": quote}


def test_quotes_checked_case_punctuation_and_apostrophes_insensitive():
    raw = json.dumps({"answers": [answer(QUESTIONS[0], "my ORDER never arrived, and I'm upset!"),
                                  answer(QUESTIONS[1], "“I dont see a tracking number”")]})
    v = validate_sentiment(raw, QUESTIONS, FACTS)
    assert v.valid
    assert [a["quote_found"] for a in v.result["answers"]] == [True, True]


def test_invented_quote_is_flagged_not_dropped():
    raw = json.dumps({"answers": [answer(QUESTIONS[0], "I love this company"), answer(QUESTIONS[1], "this is Dana")]})
    v = validate_sentiment(raw, QUESTIONS, FACTS)
    assert v.valid
    assert v.result["answers"][0]["quote_found"] is False
    assert v.result["answers"][0]["quote"] == "I love this company"
    assert any("quote not found" in i for i in v.issues)


def test_questions_matched_by_text_in_profile_order_and_extras_ignored():
    raw = "```json\n" + json.dumps({"answers": [
        answer(QUESTIONS[1].upper(), "this is Dana", "Helpful."),
        answer("Was the weather nice?", "x"),
        answer(QUESTIONS[0], "I'll refund it today", "Positive."),
    ]}) + "\n```"
    v = validate_sentiment(raw, QUESTIONS, FACTS)
    assert v.valid
    assert [a["question"] for a in v.result["answers"]] == QUESTIONS
    assert [a["answer"] for a in v.result["answers"]] == ["Positive.", "Helpful."]
    assert any("unexpected question" in i for i in v.issues)


def test_missing_answer_or_empty_answer_is_an_error():
    raw = json.dumps({"answers": [answer(QUESTIONS[0], "this is Dana", answer_text="")]})
    v = validate_sentiment(raw, QUESTIONS, FACTS)
    assert not v.valid
    assert any("empty answer" in e for e in v.errors) and any("no answer for question" in e for e in v.errors)


def test_missing_reason_and_quote_are_issues():
    raw = json.dumps({"answers": [{"question": q, "answer": "Neutral."} for q in QUESTIONS]})
    v = validate_sentiment(raw, QUESTIONS, FACTS)
    assert v.valid and v.result["answers"][0]["quote_found"] is False
    assert any("no reason" in i for i in v.issues) and any("no quote" in i for i in v.issues)


def test_quote_matching_rules():
    text = normalise(TEXT)
    assert quote_in_text("Dana: my order never arrived", text)  # speaker prefix ignored
    assert quote_in_text("Thanks for calling Northwind … I'll refund it today", text)  # ellipsis fragments in order
    assert not quote_in_text("I'll refund it today ... Thanks for calling", text)  # wrong order
    assert not quote_in_text("order never", normalise("my border never"))  # whole words only


@pytest.mark.parametrize("raw", [
    '{"action_items": [{"item": "Refund the duplicate charge", "owner": "Dana", "due_date": "today"}]}',
    'Sure! Here they are: {"action_items": '
    '[{"item": "Refund the duplicate charge", "owner": "Dana", "due_date": "today"},]}',
])
def test_action_items_json(raw):
    v = validate_action_items(raw)
    assert v.valid
    assert v.result == {"action_items": [{"item": "Refund the duplicate charge", "owner": "Dana", "due_date": "today"}]}


def test_action_items_nulls_and_string_items():
    v = validate_action_items(json.dumps({"action_items": ["Call the customer back",
                                                           {"task": "Ship the part", "owner": "N/A", "due": ""},
                                                           {"owner": "Dana"}]}))
    assert v.result["action_items"] == [{"item": "Call the customer back", "owner": None, "due_date": None},
                                        {"item": "Ship the part", "owner": None, "due_date": None}]
    assert any("no text" in i for i in v.issues)


def test_action_items_from_seed_style_bullets():
    raw = """Here are the action items:

- Send the refund confirmation email to the customer (owner: Agent; due: Friday)
* Follow up with the bank about the delayed credit
1. **Update the shipping address on file**
"""
    v = validate_action_items(raw)
    assert v.valid
    assert v.result["action_items"] == [
        {"item": "Send the refund confirmation email to the customer", "owner": "Agent", "due_date": "Friday"},
        {"item": "Follow up with the bank about the delayed credit", "owner": None, "due_date": None},
        {"item": "Update the shipping address on file", "owner": None, "due_date": None},
    ]
    assert v.issues == ["action items parsed from bullet-point text"]


def test_action_items_empty_list_is_valid_but_prose_is_not():
    assert validate_action_items('{"action_items": []}').result == {"action_items": []}
    assert not validate_action_items("Nothing to do here.").valid


def test_extract_json_edge_cases():
    assert extract_json('prefix {"a": [1, 2,],} suffix') == {"a": [1, 2]}
    assert extract_json("```\n[1, 2]\n```") == [1, 2]
    with pytest.raises(JsonNotFound):
        extract_json("no json {here")
