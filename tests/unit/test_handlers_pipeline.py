"""The Step Functions task handlers against moto: check, fetch, run_analysis, finalize, record_failure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from call_analytics import wiring
from call_analytics.adapters.calls_table import CallsTable
from call_analytics.errors import (
    OutageBudgetExhausted,
    PermanentError,
    ThrottledError,
    TranscriptionFailed,
    TranscriptionTimeout,
    TransientError,
)
from unit_fakes import FakeAssemblyAI, completed_transcript, vtt_for

CALL_ID = "c-0123456789abcdef0123"
RECORDING = {"bucket": "recordings-bucket", "key": "recordings/a.wav", "version_id": None, "size": 1000}


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


@pytest.fixture
def call(aws):
    """A call record as start_call leaves it."""
    table = CallsTable(aws.calls_table, aws.ddb)
    table.create_call(CALL_ID, status="RECEIVED", recording_bucket=aws.bucket, recording_key=RECORDING["key"])
    table.set_status(CALL_ID, "TRANSCRIBING", fields={"transcript_id": "tr-1", "profile": "default"})
    return table


#: the handlers' clock in these tests (frozen_clock): no assertion depends on how long a test runs
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen_clock(monkeypatch):
    from call_analytics.logic import check_transcript

    monkeypatch.setitem(check_transcript.check_transcript.__kwdefaults__, "now", lambda: NOW)
    return NOW


def state(**parts) -> dict:
    base = {"call_id": CALL_ID, "transcript_id": "tr-1", "profile": "default", "recording": RECORDING,
            "poll": {"status": "queued", "wait_seconds": 5, "polls": 0, "started_at": NOW.isoformat()}}
    base.update(parts)
    return base


def handler(name):
    import importlib

    return importlib.import_module(f"call_analytics.handlers.{name}").handler


# ---- check_transcript ------------------------------------------------------------------------------
def test_check_backs_off_and_reports_completion(aws, call, fake_aai, lambda_context, frozen_clock):
    fake_aai.transcripts["tr-1"] = [{"id": "tr-1", "status": "processing"}, {"id": "tr-1", "status": "processing"},
                                    completed_transcript()]
    check = handler("check_transcript")
    polls = []
    current = state()
    for _ in range(3):
        poll = check(current, lambda_context)
        polls.append(poll)
        current = {**current, "poll": poll}
    assert [p["status"] for p in polls] == ["processing", "processing", "completed"]
    # submitted just now: the shortest wait (POLL_INITIAL_SECONDS); later waits follow the elapsed time
    assert [p["wait_seconds"] for p in polls] == [5, 5, 5]
    assert [p["polls"] for p in polls] == [1, 2, 3]
    assert polls[2]["started_at"] == current["poll"]["started_at"]
    assert call.get_call(CALL_ID)["transcript_status"] == "completed"


def test_check_wait_grows_with_the_time_since_submitting_and_is_capped(aws, call, fake_aai, lambda_context,
                                                                        frozen_clock):
    # GIVEN POLL_BACKOFF 2 (the next wait is 100 % of the elapsed time), POLL_MAX_SECONDS 60
    fake_aai.transcripts["tr-1"] = [{"id": "tr-1", "status": "processing"}]
    since = (frozen_clock - timedelta(seconds=20)).isoformat()
    poll = handler("check_transcript")(state(poll={**state()["poll"], "polls": 1, "started_at": since}),
                                       lambda_context)
    assert 20 <= poll["wait_seconds"] <= 22  # not 5 x 2^polls
    # the schedule's times: 5, 10, 20, 40, 80, then every 60 s (capped) from 140: 620 is one
    since = (frozen_clock - timedelta(seconds=620)).isoformat()
    poll = handler("check_transcript")(state(poll={**state()["poll"], "polls": 1, "started_at": since}),
                                       lambda_context)
    assert poll["wait_seconds"] == 60


def test_check_raises_transcription_failed_with_the_api_message(aws, call, fake_aai, lambda_context):
    fake_aai.transcripts["tr-1"] = [{"id": "tr-1", "status": "error", "error": "Audio duration is too short."}]
    with pytest.raises(TranscriptionFailed, match="Audio duration is too short"):
        handler("check_transcript")(state(), lambda_context)


def test_check_raises_timeout_past_the_deadline(aws, call, fake_aai, lambda_context):
    fake_aai.transcripts["tr-1"] = [{"id": "tr-1", "status": "processing"}]
    old = (datetime.now(timezone.utc) - timedelta(seconds=3601)).isoformat()
    with pytest.raises(TranscriptionTimeout, match="still processing after 360"):
        handler("check_transcript")(state(poll={**state()["poll"], "started_at": old}), lambda_context)


def test_check_answers_an_outage_wait_honouring_retry_after(aws, call, fake_aai, lambda_context):
    # GIVEN a poll that still gets 429 with Retry-After 60 after the client's retries
    fake_aai.transcripts["tr-1"] = [ThrottledError("AssemblyAI GET /v2/transcript/tr-1 rate limited (HTTP 429)",
                                                   retry_after=60)]
    # WHEN CheckTranscript runs
    poll = handler("check_transcript")(state(), lambda_context)
    # THEN it does not raise (Step Functions would retry after 5, 10, 20 s ...): it answers the last known status
    # and Retry-After (+ up to 20 % jitter) as the wait of WaitForTranscript, with the outage it is in
    assert poll["status"] == "queued" and poll["polls"] == 0
    assert 60 <= poll["wait_seconds"] <= 72
    assert poll["outage"]["error"] == "ThrottledError" and poll["outage"]["waits"] == 1
    assert poll["outage"]["waited_seconds"] == poll["wait_seconds"] and "HTTP 429" in poll["outage"]["reason"]


def test_check_rides_out_a_15_minute_outage_then_fails_after_the_budget(aws, call, fake_aai, lambda_context):
    # GIVEN 5xx (no Retry-After) for 15 minutes of waits, then the completed transcript
    check, current, waited = handler("check_transcript"), state(), 0
    fake_aai.transcripts["tr-1"] = [TransientError("AssemblyAI GET /v2/transcript/tr-1 failed with HTTP 503",
                                                   status_code=503)]
    while waited < 15 * 60:
        poll = check(current, lambda_context)
        assert poll["outage"] is not None
        waited = poll["outage"]["waited_seconds"]
        current = {**current, "poll": poll}
    fake_aai.transcripts["tr-1"] = [completed_transcript()]
    poll = check(current, lambda_context)
    # THEN the call carries on, and the outage is over
    assert poll["status"] == "completed" and poll["outage"] is None and poll["polls"] == 1
    # ... whereas an outage longer than OUTAGE_BUDGET_SECONDS (900 by default) ends in a named error with the reason
    fake_aai.transcripts["tr-1"] = [TransientError("AssemblyAI GET /v2/transcript/tr-1 failed with HTTP 503")]
    with pytest.raises(OutageBudgetExhausted, match="CheckTranscript.*OUTAGE_BUDGET_SECONDS=900.*HTTP 503"):
        check(current, lambda_context)


def test_fetch_answers_retry_while_the_api_fails_then_fetches(aws, call, fake_aai, lambda_context):
    # GIVEN a completed transcript whose GET fails with 5xx (the transcript is done and paid for)
    transcript = completed_transcript()
    fake_aai.transcripts["tr-1"] = [TransientError("AssemblyAI GET /v2/transcript/tr-1 failed with HTTP 502",
                                                   status_code=502, retry_after=30)]
    fetch = handler("fetch_transcript")
    answer = fetch(state(), lambda_context)
    # THEN FetchTranscript waits (WaitToFetch) instead of failing the call
    assert answer["status"] == "retry" and 30 <= answer["wait_seconds"] <= 36
    assert answer["outage"]["step"] == "FetchTranscript"
    # ... and the next attempt, with the outage in $.transcript, fetches
    fake_aai.transcripts["tr-1"] = [transcript]
    fake_aai.vtt["tr-1"] = vtt_for(transcript)
    summary = fetch(state(transcript=answer), lambda_context)
    assert summary["has_speech"] is True and summary["analyses"] == ["combined"]
    # a VTT request that fails counts as the same outage
    fake_aai.vtt.clear()
    fake_aai.get_vtt = lambda transcript_id: (_ for _ in ()).throw(TransientError("VTT: HTTP 503"))
    again = fetch(state(transcript=answer), lambda_context)
    assert again["status"] == "retry" and again["outage"]["waits"] == 2


def test_run_analysis_answers_retry_while_the_gateway_fails(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fake_aai.chat_answers = [TransientError("AssemblyAI POST /chat/completions failed with HTTP 500")]
    item = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "phases"}, lambda_context)
    assert item["status"] == "retry" and item["wait_seconds"] >= 1
    assert item["outage"]["error"] == "TransientError" and item["throttle"]["requests"] == 1
    # the answer is the next input: it runs again and stores the result
    fake_aai.chat_answers = [GOOD_PHASES]
    ref = handler("run_analysis")(item, lambda_context)
    assert ref["status"] == "done" and ref["valid"] is True and ref["requests"] == 2


# ---- fetch_transcript ------------------------------------------------------------------------------
def test_fetch_stores_transcript_and_vtt_and_plans_analyses(aws, call, fake_aai, lambda_context):
    transcript = completed_transcript()
    fake_aai.transcripts["tr-1"] = [transcript]
    fake_aai.vtt["tr-1"] = vtt_for(transcript)
    summary = handler("fetch_transcript")(state(), lambda_context)
    assert summary == {"audio_duration": 45.0, "has_speech": True, "skip_reason": None,
                       "analyses": ["combined"]}  # the default profile: one request for the three analyses
    stored = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/transcript.json")["Body"].read())
    assert stored["id"] == "tr-1"
    vtt = aws.s3.get_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/captions.vtt")["Body"].read().decode()
    assert vtt.startswith("WEBVTT")
    record = call.get_call(CALL_ID)
    assert record["status"] == "ANALYZING" and record["speakers"] == ["A", "B"]
    assert record["word_count"] == len(transcript["words"]) and record["audio_duration"] == 45


def test_fetch_skips_analyses_for_a_silent_recording(aws, call, fake_aai, lambda_context):
    fake_aai.transcripts["tr-1"] = [completed_transcript(utterances=[], audio_duration=12)]
    summary = handler("fetch_transcript")(state(), lambda_context)
    assert summary["has_speech"] is False and summary["analyses"] == []
    assert summary["skip_reason"] == "no speech detected (0 words in 12s of audio)"
    assert call.get_call(CALL_ID)["skip_reason"] == summary["skip_reason"]


def test_fetch_in_combined_mode_plans_one_request(aws, call, fake_aai, lambda_context):
    fake_aai.transcripts["tr-1"] = [completed_transcript(utterances=[(0, 20, "A", " ".join(["word"] * 25))])]
    fake_aai.vtt["tr-1"] = "WEBVTT\n"
    summary = handler("fetch_transcript")(state(profile="sales"), lambda_context)
    assert summary["analyses"] == ["combined"]


# ---- run_analysis ------------------------------------------------------------------------------------
def prepare_transcript(aws, transcript=None):
    transcript = transcript or completed_transcript()
    aws.s3.put_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/transcript.json", Body=json.dumps(transcript))
    aws.s3.put_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/captions.vtt", Body=vtt_for(transcript))
    return transcript


GOOD_PHASES = json.dumps({"phases": [
    {"name": "Introduction", "start_time": 0.5, "end_time": 4.0, "summary": "Greeting."},
    {"name": "Complaint", "start_time": 4.2, "end_time": 12.0, "summary": "Order missing, double charge."},
    {"name": "Resolution", "start_time": 12.3, "end_time": 40.0, "summary": "Refund today."},
    {"name": "Goodbye", "start_time": 40.2, "end_time": 45.0, "summary": "Farewell."}]})


def test_run_analysis_stores_a_valid_result(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fake_aai.chat_answers = [GOOD_PHASES]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "phases"}, lambda_context)
    assert ref == {"analysis": "phases", "valid": True, "item_key": f"results/{CALL_ID}/phases.json",
                   "status": "done", "requests": 1, "waits": 0, "waited_seconds": 0}
    [request] = fake_aai.chat_requests
    assert request["response_format"]["json_schema"]["name"] == "call_phases"
    assert "[4] Customer: Hi Dana, my order never arrived" in request["messages"][0]["content"]
    [item] = call.list_analyses(CALL_ID)
    assert item["valid"] is True and item["model"] == "claude-sonnet-4-5-20250929"
    assert [p["name"] for p in item["result"]["phases"]] == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert item["tokens"]["total_tokens"] == 150 and item["attempts"] == 1
    document = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=ref["item_key"])["Body"].read())
    assert document["raw_outputs"] == [GOOD_PHASES] and document["valid"] is True


def test_run_analysis_repairs_then_flags_unfound_quotes(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    questions = [q.question for q in __import__("call_analytics.profiles.loader", fromlist=["x"])
                 .load_bundled("default").analysis("sentiment").questions]
    answers = [{"question": q, "answer": "Positive.", "reason": "Refund offered.",
                "quote": "I will refund it today" if i else "Best service ever!"} for i, q in enumerate(questions)]
    fake_aai.chat_answers = ["The customer seemed happy overall.",
                             "```json\n" + json.dumps({"answers": answers}) + "\n```"]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "sentiment"}, lambda_context)
    assert ref["valid"] is True
    assert len(fake_aai.chat_requests) == 2
    [item] = call.list_analyses(CALL_ID)
    assert item["repaired"] is True and item["attempts"] == 2 and item["tokens"]["total_tokens"] == 300
    assert [a["quote_found"] for a in item["result"]["answers"]] == [False, True, True, True, True]


def test_run_analysis_keeps_invalid_output_with_errors(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fake_aai.chat_answers = ["no idea", "still no idea"]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "phases"}, lambda_context)
    assert ref["valid"] is False
    [item] = call.list_analyses(CALL_ID)
    assert item["valid"] is False and item["raw_output"] == "no idea" and item["errors"]
    document = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=ref["item_key"])["Body"].read())
    assert document["raw_outputs"] == ["no idea", "still no idea"]


def test_run_analysis_records_a_refused_request(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fake_aai.chat_answers = [PermanentError("LLM gateway failed with HTTP 400: model x is not supported")]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "action_items"},
                                  lambda_context)
    assert ref["valid"] is False
    [item] = call.list_analyses(CALL_ID)
    assert "model x is not supported" in item["errors"][0]


def test_run_analysis_combined_writes_one_item_per_section(aws, call, fake_aai, lambda_context):
    stereo = completed_transcript(utterances=[(0, 40, "A", "Opening words " * 10)])
    stereo["utterances"][0].update(speaker=None, channel="1")  # a multichannel transcript
    prepare_transcript(aws, stereo)
    questions = ["How interested was the prospect in buying?", "Which objection did the prospect raise most strongly?",
                 "Did the agent secure a concrete next step?"]
    fake_aai.chat_answers = [json.dumps({
        "phases": [{"name": "Opening", "start_time": 0, "end_time": 40, "summary": "all"}],
        "answers": [{"question": q, "answer": "No.", "reason": "r", "quote": "Opening words"} for q in questions],
        "action_items": [{"item": "Send pricing", "owner": "Agent", "due_date": None}]})]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "sales", "analysis": "combined"}, lambda_context)
    assert ref == {"analysis": "combined", "valid": True, "item_key": f"results/{CALL_ID}/combined.json",
                   "status": "done", "requests": 1, "waits": 0, "waited_seconds": 0}
    items = {i["analysis"]: i for i in call.list_analyses(CALL_ID)}
    assert set(items) == {"phases", "sentiment", "action_items"}
    assert all(i["request"] == "combined" for i in items.values())
    assert "[0] Agent: Opening words" in fake_aai.chat_requests[0]["messages"][0]["content"]  # channel names


# ---- finalize_call / record_failure ---------------------------------------------------------------
def test_finalize_completes_and_notifies_once(aws, call, fake_aai, lambda_context):
    call.put_analysis(CALL_ID, "phases",
                      {"valid": True, "result": {"phases": [{"name": "Introduction"}, {"name": "Goodbye"}]}})
    call.put_analysis(CALL_ID, "sentiment", {"valid": True, "result": {"answers": [
        {"question": "What was the overall sentiment of the call?", "answer": "Positive. " * 40}]}})
    call.put_analysis(CALL_ID, "action_items", {"valid": False, "result": None, "errors": ["x"]})
    full = state(transcript={"audio_duration": 45, "has_speech": True, "skip_reason": None,
                             "analyses": ["phases", "sentiment", "action_items"]})
    result = handler("finalize_call")(full, lambda_context)
    # one analysis invalid: PARTIAL, not COMPLETED (issue 10: subscribers of COMPLETED get usable results only)
    assert result["status"] == "PARTIAL" and result["notified"] is True
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "PARTIAL", "profile": "default", "analyses_valid": "some",
                                  "analyses_valid_count": "2", "analyses_total": "3", "categories": "[]"}
    message = note["message"]
    assert message["call_id"] == CALL_ID and message["recording"]["key"] == "recordings/a.wav"
    assert message["results"]["prefix"] == f"results/{CALL_ID}/"
    assert message["results"]["analyses"]["phases"] == f"results/{CALL_ID}/phases.json"
    assert message["digest"]["phases"] == ["Introduction", "Goodbye"]
    assert len(message["digest"]["sentiment"][0]["answer"]) <= 160
    assert message["digest"]["invalid_analyses"] == ["action_items"]
    record = call.get_call(CALL_ID)
    assert record["status"] == "PARTIAL" and record["invalid_analyses"] == ["action_items"]
    assert (record["analyses_valid"], record["analyses_valid_count"], record["analyses_total"]) == ("some", 2, 3)
    # a retried finalize announces nothing twice and appends no history
    again = handler("finalize_call")(full, lambda_context)
    assert again["notified"] is False and again["status"] == "PARTIAL" and aws.notifications() == []
    assert [h["status"] for h in call.get_call(CALL_ID)["history"]].count("PARTIAL") == 1
    # the GSI lists it among the recent partial calls
    assert [r["call_id"] for r in call.recent_by_status("PARTIAL")] == [CALL_ID]


def test_finalize_without_speech_reports_the_skip_reason(aws, call, fake_aai, lambda_context):
    full = state(transcript={"audio_duration": 12, "has_speech": False, "analyses": [],
                             "skip_reason": "no speech detected (0 words in 12s of audio)"})
    handler("finalize_call")(full, lambda_context)
    [note] = aws.notifications()
    assert note["message"]["skip_reason"].startswith("no speech detected")
    assert note["message"]["results"]["captions"] is None
    digest = note["message"]["digest"]
    assert digest["invalid_analyses"] == [] and not {"phases", "sentiment", "action_items"} & set(digest)
    assert digest["llm"] == {"input_tokens": 0, "output_tokens": 0, "requests": 0}
    assert "analyses skipped" in call.get_call(CALL_ID)["history"][-1]["detail"]


def test_record_failure_parses_the_lambda_cause(aws, call, fake_aai, lambda_context):
    cause = json.dumps({"errorMessage": "AssemblyAI transcript tr-1 failed: Audio duration is too short.",
                        "errorType": "TranscriptionFailed", "requestId": "r", "stackTrace": ["..."]})
    failed = state(error={"Error": "TranscriptionFailed", "Cause": cause})
    result = handler("record_failure")(failed, lambda_context)
    assert result == {"call_id": CALL_ID, "status": "FAILED", "notified": True,
                      "reason": "TranscriptionFailed: AssemblyAI transcript tr-1 failed: Audio duration is too short."}
    record = call.get_call(CALL_ID)
    assert record["status"] == "FAILED" and record["failure_error"] == "TranscriptionFailed"
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "FAILED", "profile": "default"}
    assert note["message"]["error"]["reason"] == result["reason"]
    # idempotent: a retry neither re-announces nor adds history
    assert handler("record_failure")(failed, lambda_context)["notified"] is False
    assert aws.notifications() == []
    assert [h["status"] for h in call.get_call(CALL_ID)["history"]].count("FAILED") == 1


def test_record_failure_without_a_call_record_creates_one(aws, fake_aai, lambda_context):
    result = handler("record_failure")(
        {"call_id": "c-missing", "profile": "default", "error": {"Error": "States.Timeout", "Cause": None}},
        lambda_context)
    assert result["reason"] == "States.Timeout" and result["notified"] is True
    record = CallsTable(aws.calls_table, aws.ddb).get_call("c-missing")
    assert record["status"] == "FAILED" and record["history"][0]["status"] == "FAILED"
    assert [r["call_id"] for r in CallsTable(aws.calls_table, aws.ddb).recent_by_status("FAILED")] == ["c-missing"]


def test_record_failure_with_plain_text_cause(aws, call, fake_aai, lambda_context):
    result = handler("record_failure")(state(error={"Error": "States.TaskFailed", "Cause": "Lambda crashed"}),
                                       lambda_context)
    assert result["reason"] == "States.TaskFailed: Lambda crashed"
