"""Category rules (profiles/categories.py, conversation/categories.py) and speaker roles (conversation/roles.py)."""

from __future__ import annotations

import json

import pytest
from call_analytics.conversation.categories import CallFacts, evaluate_categories
from call_analytics.conversation.metrics import conversation_metrics, words_of
from call_analytics.conversation.roles import RoleMap, assign_roles, parse_override
from call_analytics.errors import InvalidProfile, InvalidRecording
from call_analytics.profiles.categories import Category
from call_analytics.profiles.loader import BUNDLED_DIR
from call_analytics.profiles.model import MetricsOptions, Roles, parse_profile

from tests.unit.test_conversation_metrics import say, transcript

ROLES = RoleMap("override", {"A": "agent", "B": "customer"})


def call(*utterances, duration=60.0, answers=None, sentiment=None):
    t = transcript(*utterances, duration=duration)
    if sentiment:
        t["sentiment_analysis_results"] = sentiment
    metrics = conversation_metrics(t, ROLES, MetricsOptions())
    return CallFacts(words=words_of(t), roles=ROLES, metrics=metrics, answers=answers or {}, duration=duration)


def run(rule: dict, facts: CallFacts) -> dict:
    [result] = evaluate_categories([Category.model_validate({"name": "c", "rule": rule})], facts)
    return result


ESCALATION = call(say("A", 0, "Thanks for calling, how can I help?"),
                  say("B", 5, "I want to speak to a manager, right now."),
                  say("A", 50, "Of course, I will transfer you."))


def test_phrase_match_gives_the_words_and_times_as_evidence():
    result = run({"phrases": ["speak to a manager"]}, ESCALATION)
    assert result["matched"] is True
    [evidence] = result["evidence"]
    assert evidence["kind"] == "phrase" and evidence["role"] == "customer"
    assert evidence["text"] == "speak to a manager," and evidence["start"] == pytest.approx(6.2)
    assert evidence["end"] == pytest.approx(7.8)


def test_phrase_match_ignores_case_and_punctuation_but_not_word_boundaries():
    assert run({"phrases": ["MANAGER right now"]}, ESCALATION)["matched"] is True
    assert run({"phrases": ["manage"]}, ESCALATION)["matched"] is False


def test_phrase_rule_by_role():
    assert run({"phrases": ["transfer you"], "role": "agent"}, ESCALATION)["matched"] is True
    assert run({"phrases": ["transfer you"], "role": "customer"}, ESCALATION)["matched"] is False


def test_phrase_rule_in_time_windows():
    # "manager" is said at about 7.8 s of a 60 s call; "transfer" at about 52 s
    assert run({"phrases": ["manager"], "window": {"first_seconds": 10}}, ESCALATION)["matched"] is True
    assert run({"phrases": ["manager"], "window": {"first_seconds": 5}}, ESCALATION)["matched"] is False
    assert run({"phrases": ["transfer"], "window": {"last_seconds": 15}}, ESCALATION)["matched"] is True
    assert run({"phrases": ["manager"], "window": {"last_seconds": 15}}, ESCALATION)["matched"] is False


def test_a_phrase_is_said_by_one_speaker():
    facts = call(say("A", 0, "please speak"), say("B", 1.0, "to a manager"))
    assert run({"phrases": ["speak to a manager"]}, facts)["matched"] is False


def test_negation_all_and_any():
    manager = {"phrases": ["manager"]}
    refund = {"phrases": ["refund"]}
    assert run({"not": refund}, ESCALATION)["matched"] is True
    assert run({"not": manager}, ESCALATION)["matched"] is False
    assert run({"all": [manager, {"not": refund}]}, ESCALATION)["matched"] is True
    assert run({"all": [manager, refund]}, ESCALATION)["matched"] is False
    result = run({"any": [refund, manager]}, ESCALATION)
    assert result["matched"] is True and [e["phrase"] for e in result["evidence"]] == ["manager"]


def test_metric_thresholds():
    facts = call(say("A", 0, "hello"), say("B", 20, "hi"), duration=30)  # 19.6 s silence
    assert run({"metric": "longest_silence_seconds", "gte": 10}, facts)["matched"] is True
    assert run({"metric": "longest_silence_seconds", "lt": 10}, facts)["matched"] is False
    result = run({"metric": "talk_share", "role": "agent", "gte": 0.5}, facts)
    assert result["matched"] is True and result["evidence"][0]["value"] == 0.5


def test_sentiment_rule_on_the_last_quarter():
    negative_end = [{"start": 50000, "end": 52000, "sentiment": "NEGATIVE", "speaker": "B"},
                    {"start": 53000, "end": 55000, "sentiment": "NEGATIVE", "speaker": "B"}]
    facts = call(say("B", 0, "hello"), sentiment=negative_end)
    assert run({"sentiment": "negative", "role": "customer", "quarter": 4}, facts)["matched"] is True
    assert run({"sentiment": "negative", "role": "customer", "quarter": 1}, facts)["undetermined"]
    assert run({"sentiment": "positive", "role": "customer"}, facts)["matched"] is False


def test_question_rules_use_the_llm_answers_and_are_undetermined_without_one():
    question = "Did the customer ask for a manager?"
    yes = call(say("B", 0, "hello"), answers={question: {"answer": "yes", "quote": "a manager"}})
    assert run({"question": question}, yes)["evidence"] == [
        {"kind": "question", "question": question, "answer": "yes", "quote": "a manager"}]
    assert run({"question": question, "answer": "no"}, yes)["matched"] is False
    unanswered = call(say("B", 0, "hello"))
    result = run({"not": {"question": question}}, unanswered)
    # a failed LLM answer never raises an alert, not even through a negation
    assert result["matched"] is False and result["undetermined"] == [f"no LLM answer to {question!r}"]


def test_three_valued_logic_short_circuits_around_missing_inputs():
    question = {"question": "Did the agent offer a refund?"}
    assert run({"any": [{"phrases": ["manager"]}, question]}, ESCALATION)["matched"] is True  # true wins
    assert run({"all": [{"phrases": ["refund"]}, question]}, ESCALATION).get("undetermined") is None  # false wins


@pytest.mark.parametrize("rule, message", [
    ({"phrases": []}, "rule (phrases rule): phrases"),
    ({"metric": "nope", "gt": 1}, "unknown metric 'nope'"),
    ({"metric": "talk_share", "gt": 0.5}, "metric 'talk_share' needs a role"),
    ({"metric": "non_talk_share", "role": "agent", "gt": 0.5}, "is about the whole call: no role"),
    ({"metric": "non_talk_share", "gt": 0.5, "lt": 0.9}, "exactly one of gt, gte, lt, lte"),
    ({"any": []}, "rule.any: a non-empty list of rules"),
    ({"all": [{"phrases": ["x"]}, {"oops": 1}]}, "rule.all[1]: a rule has exactly one of"),
    ({"phrases": ["x"], "window": {"first_seconds": 1, "last_seconds": 2}}, "exactly one of first_seconds"),
    ({"not": {"not": {"sentiment": "angry", "role": "customer"}}}, "rule.not.not (sentiment rule)"),
])
def test_a_bad_rule_is_rejected_with_a_message_naming_the_category_and_the_rule(rule, message):
    profile = json.loads((BUNDLED_DIR / "default.json").read_text())
    profile["categories"] = [{"name": "broken-rule", "rule": rule}]
    with pytest.raises(InvalidProfile) as error:
        parse_profile(profile, source="test")
    assert "category 'broken-rule'" in str(error.value) and message in str(error.value)


def test_profile_level_checks_name_the_category():
    profile = json.loads((BUNDLED_DIR / "default.json").read_text())
    profile["transcription"]["sentiment_analysis"] = False
    with pytest.raises(InvalidProfile, match="category 'customer_negative_at_end' has a sentiment rule"):
        parse_profile(profile, source="test")
    profile = json.loads((BUNDLED_DIR / "default.json").read_text())
    profile["categories"].append({"name": "boss", "rule": {"phrases": ["x"], "role": "supervisor"}})
    with pytest.raises(InvalidProfile, match=r"category 'boss' uses roles \['supervisor'\]"):
        parse_profile(profile, source="test")


# --- roles -----------------------------------------------------------------------------------------------------

def mono(*turns):
    return {"utterances": [{"speaker": s, "text": t, "start": i * 1000, "end": i * 1000 + 900}
                           for i, (s, t) in enumerate(turns)]}


def test_heuristic_finds_the_agent_by_greeting_even_when_the_customer_speaks_first():
    t = mono(("A", "Hello? Hi, I'm calling about my bill."), ("B", "Thank you for calling Fabrikam, this is Tom "
                                                                   "speaking. How can I help?"))
    roles = assign_roles(t, Roles())
    assert roles.speakers == {"B": "agent", "A": "customer"} and roles.method == "heuristic"


def test_heuristic_without_cues_takes_the_first_voice_as_the_profile_says():
    t = mono(("A", "Hello."), ("B", "Hi."))
    assert assign_roles(t, Roles()).speakers == {"A": "agent", "B": "customer"}
    assert assign_roles(t, Roles(first_speaker="customer")).speakers == {"B": "agent", "A": "customer"}


def test_channels_map_roles_on_stereo():
    t = {"multichannel": True, "utterances": [{"channel": "1", "speaker": "A", "text": "hi", "start": 0, "end": 1},
                                              {"channel": "2", "speaker": "B", "text": "hello", "start": 1, "end": 2}]}
    assert assign_roles(t, Roles()).speakers == {"1": "agent", "2": "customer"}
    swapped = Roles(channels={"1": "customer", "2": "agent"})
    assert assign_roles(t, swapped).speakers == {"1": "customer", "2": "agent"}


def test_speaker_identification_labels_are_read_as_roles():
    t = mono(("Customer", "Hi."), ("Agent", "Hello."))
    roles = assign_roles(t, Roles())
    assert roles.method == "speaker_identification" and roles.speakers == {"Customer": "customer", "Agent": "agent"}


def test_the_upload_override_wins_and_is_validated():
    t = mono(("A", "Thank you for calling, how can I help?"), ("B", "Hi."))
    assert assign_roles(t, Roles(), parse_override("A=customer, b=agent")).speakers == {"A": "customer",
                                                                                        "B": "agent"}
    with pytest.raises(InvalidRecording, match="speaker-roles"):
        parse_override("A:agent")
    with pytest.raises(InvalidRecording, match="'boss' is not one of"):
        parse_override("A=boss", ["agent", "customer"])


def test_labels_for_readers():
    roles = RoleMap("override", {"A": "agent", "B": "customer", "C": "agent"})
    assert [roles.label_of(s) for s in ("A", "B", "C", "D")] == ["Agent", "Customer", "Agent 2", "Speaker D"]
