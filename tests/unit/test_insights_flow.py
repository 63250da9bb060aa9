"""Roles, metrics and categories through the real handlers against moto, and the retroactive recompute."""

from __future__ import annotations

import json

import pytest
from call_analytics import wiring
from call_analytics.adapters.calls_table import CallsTable
from call_analytics.adapters.results_store import ResultsStore
from call_analytics.logic.recompute import RecomputeDeps, recompute_call, recompute_finished
from call_analytics.profiles.loader import BUNDLED_DIR, ProfileLoader, load_bundled
from unit_fakes import FakeAssemblyAI, completed_transcript, vtt_for

CALL_ID = "c-00000000000000insight"
RECORDING = {"bucket": "recordings-bucket", "key": "recordings/angry.wav", "version_id": None, "size": 1000}
#: the customer speaks first here; the agent is found by the greeting
UTTERANCES = [
    (0.5, 3.0, "A", "Hello? Yes, I'm calling about my bill again."),
    (3.4, 8.0, "B", "Thank you for calling Northwind, this is Dana. How can I help?"),
    (8.3, 14.0, "A", "I was charged twice. I want to speak to a manager."),
    (26.0, 32.0, "B", "I understand. I will transfer you to my supervisor now."),  # 12 s silence before
]
QUESTION = "Did the customer threaten to cancel?"


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    transcript = completed_transcript(utterances=UTTERANCES, audio_duration=33)
    transcript["sentiment_analysis_results"] = [
        {"start": 8300, "end": 10000, "sentiment": "NEGATIVE", "speaker": "A"},
        {"start": 10000, "end": 14000, "sentiment": "NEGATIVE", "speaker": "A"}]
    fake.transcripts["tr-9"] = [transcript]
    fake.vtt["tr-9"] = vtt_for(transcript)
    return fake


def handler(name):
    import importlib

    return importlib.import_module(f"call_analytics.handlers.{name}").handler


def push_profile(aws, changes) -> None:
    profile = json.loads((BUNDLED_DIR / "default.json").read_text())
    changes(profile)
    aws.s3.put_object(Bucket=aws.bucket, Key="profiles/default.json", Body=json.dumps(profile).encode())


def run_call(aws, fake_aai, lambda_context) -> dict:
    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call(CALL_ID, status="RECEIVED", recording_bucket=aws.bucket, recording_key=RECORDING["key"])
    calls.set_status(CALL_ID, "TRANSCRIBING", fields={"transcript_id": "tr-9", "profile": "default"})
    store = ResultsStore(aws.s3)
    store.put_json(aws.bucket, f"results/{CALL_ID}/profile.json", json.loads((BUNDLED_DIR / "default.json")
                                                                               .read_text()))
    state = {"call_id": CALL_ID, "transcript_id": "tr-9", "profile": "default", "recording": RECORDING}
    summary = handler("fetch_transcript")(state, lambda_context)
    questions = [q["question"] for q in json.loads((BUNDLED_DIR / "default.json").read_text())
                 ["analyses"]["sentiment"]["questions"]]
    answers = {"phases": [{"name": "Complaint", "start_time": 0, "end_time": 33, "summary": "billing"}],
               "answers": [{"question": q, "answer": "Negative.", "reason": "Charged twice.",
                            "quote": "I was charged twice."} for q in questions],
               "action_items": [{"item": "Transfer the call to a supervisor", "owner": "agent", "due_date": "now"}],
               "checks": [{"question": q, "answer": "yes", "quote": "I want to speak to a manager."}
                          for q in load_bundled("default").check_questions()]}
    fake_aai.chat_answers = [json.dumps(answers)]
    refs = [handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": a}, lambda_context)
            for a in summary["analyses"]]
    handler("finalize_call")({**state, "transcript": summary, "analyses": refs}, lambda_context)
    return calls.get_call(CALL_ID)


def test_roles_metrics_and_categories_of_a_call(aws, fake_aai, lambda_context):
    record = run_call(aws, fake_aai, lambda_context)
    assert record["roles"]["speakers"] == {"A": "customer", "B": "agent"}
    # the LLM got roles, not letters
    prompt = fake_aai.chat_requests[0]["messages"][0]["content"]
    assert "] Customer: Hello? Yes, I'm calling" in prompt and "] Agent: Thank you for calling" in prompt
    calls = CallsTable(aws.calls_table, aws.ddb)
    items = {i["analysis"]: i for i in calls.list_analyses(CALL_ID)}
    metrics = items["metrics"]["result"]
    assert metrics["roles"]["customer"]["turns"] == 2 and metrics["non_talk"]["longest_silence"]["seconds"] >= 11.9
    assert set(record["categories"]) == {"escalation", "long_silence"}
    escalation = next(c for c in items["categories"]["result"]["categories"] if c["name"] == "escalation")
    assert escalation["evidence"][0]["role"] == "customer" and "manager" in escalation["evidence"][0]["text"]
    # the digest and the String.Array attribute a subscriber filters on; metrics never make a call PARTIAL
    [note] = aws.notifications()
    assert json.loads(note["attributes"]["categories"]) == record["categories"]
    assert note["message"]["digest"]["metrics"]["roles"]["agent"]["turns"] == 2
    # phases, sentiment, action items and the answers to the categories' questions (checks)
    assert record["status"] == "COMPLETED" and record["analyses_total"] == 4
    assert {e["kind"] for e in escalation["evidence"]} == {"phrase", "question"}


def test_recompute_applies_new_rules_to_an_old_call_without_an_llm_request(aws, fake_aai, lambda_context):
    run_call(aws, fake_aai, lambda_context)
    requests_before = len(fake_aai.chat_requests)
    push_profile(aws, lambda p: p["categories"].append(
        {"name": "double_charge", "rule": {"phrases": ["charged twice"], "role": "customer"}}))
    store = ResultsStore(aws.s3)
    deps = RecomputeDeps(calls=CallsTable(aws.calls_table, aws.ddb), store=store,
                         profiles=ProfileLoader(store, aws.bucket, "profiles/"), bucket=aws.bucket)
    [result] = recompute_finished(deps)
    assert result.outcome == "recomputed" and result.changed
    assert "double_charge" in result.categories
    assert CallsTable(aws.calls_table, aws.ddb).get_call(CALL_ID)["categories"] == result.categories
    assert len(fake_aai.chat_requests) == requests_before  # no LLM request, no transcription
    assert len(aws.notifications()) == 1  # not announced again


def test_recompute_with_a_new_llm_question_says_which_questions_need_the_llm(aws, fake_aai, lambda_context):
    run_call(aws, fake_aai, lambda_context)
    push_profile(aws, lambda p: p["categories"].append({"name": "churn_risk", "rule": {"question": QUESTION}}))
    store = ResultsStore(aws.s3)
    deps = RecomputeDeps(calls=CallsTable(aws.calls_table, aws.ddb), store=store,
                         profiles=ProfileLoader(store, aws.bucket, "profiles/"), bucket=aws.bucket)
    result = recompute_call(CALL_ID, deps)
    assert result.outcome == "needs_llm" and result.needs_llm == [QUESTION]
    assert recompute_call("c-unknown", deps).outcome == "skipped"
