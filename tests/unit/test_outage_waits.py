"""Outages are waited out in Wait states, as long as Retry-After says, within a budget (call_analytics/outages.py;
issue 10 item 4). The task answers are checked here; the state machine loops in tests/infra/test_infra_workflow.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from call_analytics import wiring
from call_analytics.adapters.limits import TranscriptionSemaphore
from call_analytics.errors import OutageBudgetExhausted, ThrottledError, TransientError
from call_analytics.outages import OUTAGE_WAIT_MAX_SECONDS, outage_wait_seconds, ride_out
from unit_fakes import FakeAssemblyAI

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
CALL_ID = "c-0123456789abcdef0123"


def test_retry_after_is_the_wait_plus_up_to_20_percent():
    assert outage_wait_seconds(60, 0, jitter=lambda: 0.0) == 60
    assert outage_wait_seconds(60, 7, jitter=lambda: 1.0) == 72
    assert outage_wait_seconds(0.4, 0, jitter=lambda: 0.0) == 1


def test_without_retry_after_the_waits_double_with_equal_jitter_up_to_a_cap():
    assert [outage_wait_seconds(None, n, jitter=lambda: 1.0) for n in range(7)] == [5, 10, 20, 40, 80, 120, 120]
    assert outage_wait_seconds(None, 3, jitter=lambda: 0.0) == 20  # at least half the ceiling
    assert outage_wait_seconds(None, 50, jitter=lambda: 1.0) == OUTAGE_WAIT_MAX_SECONDS


def test_an_outage_accumulates_its_waits_and_fails_with_the_last_error_once_the_budget_is_spent():
    error = ThrottledError("AssemblyAI POST /v2/transcript rate limited (HTTP 429)", retry_after=300)
    outage, waits = None, []
    while True:
        try:
            outage = ride_out(outage, error, step="SubmitTranscription", budget_seconds=900, now=NOW,
                              jitter=lambda: 0.0)
        except OutageBudgetExhausted as exc:
            failure = str(exc)
            break
        waits.append(outage.wait_seconds)
    # Retry-After 300 three times: 900 s, the whole budget; then one more attempt fails the call
    assert waits == [300, 300, 300]
    assert outage.since == NOW.isoformat() and outage.waits == 3
    assert "SubmitTranscription" in failure and "OUTAGE_BUDGET_SECONDS=900" in failure
    assert "ThrottledError: AssemblyAI POST /v2/transcript rate limited (HTTP 429)" in failure


def test_the_last_wait_is_cut_to_the_budget_left():
    outage = ride_out(None, TransientError("HTTP 503", retry_after=800), step="s", budget_seconds=900, now=NOW,
                      jitter=lambda: 0.0)
    nxt = ride_out(outage, TransientError("HTTP 503", retry_after=800), step="s", budget_seconds=900, now=NOW,
                   jitter=lambda: 0.0)
    assert (outage.wait_seconds, nxt.wait_seconds, nxt.waited_seconds) == (800, 100, 900)


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


def test_submit_waits_out_an_outage_holding_its_slot_then_submits(aws, fake_aai, lambda_context):
    from call_analytics.handlers.submit_transcription import handler

    key = "recordings/a.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b"RIFF" + b"\x00" * 2000)
    event = {"call_id": CALL_ID, "profile": "default", "recording": {"bucket": aws.bucket, "key": key}}
    # GIVEN POST /v2/transcript answering 429 with Retry-After 60 after the client's retries
    fake_aai.submit_error = ThrottledError("AssemblyAI POST /v2/transcript rate limited (HTTP 429)", retry_after=60)
    slot = handler(event, lambda_context)
    # THEN SubmitTranscription answers a wait for WaitForSlot (not an error for the 5 s..160 s Retry)
    assert slot["acquired"] is False and 60 <= slot["wait_seconds"] <= 72
    assert slot["outage"]["step"] == "SubmitTranscription" and slot["waited_seconds"] == 0  # not the slot budget
    assert set(TranscriptionSemaphore(aws.limits_table, aws.ddb).holders()) == {CALL_ID}  # the slot stays ours
    # WHEN the API is back, the next attempt (the answer in $.slot) submits
    fake_aai.submit_error = None
    slot = handler({**event, "slot": slot}, lambda_context)
    assert slot["acquired"] is True and slot["transcript_id"] == "tr-1" and slot["outage"] is None
    assert slot["wait_seconds"] == 5  # the first poll: POLL_INITIAL_SECONDS


def test_submit_gives_the_slot_back_when_the_outage_budget_is_spent(aws, fake_aai, lambda_context):
    from call_analytics.handlers.submit_transcription import handler

    key = "recordings/a.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b"RIFF" + b"\x00" * 2000)
    fake_aai.submit_error = TransientError("AssemblyAI POST /v2/transcript failed with HTTP 503; outcome unknown")
    spent = {"acquired": False, "wait_seconds": 60, "attempts": 9, "waited_seconds": 0,
             "outage": {"step": "SubmitTranscription", "since": NOW.isoformat(), "waits": 9, "waited_seconds": 900,
                        "wait_seconds": 60, "error": "TransientError", "reason": "TransientError: HTTP 503"}}
    with pytest.raises(OutageBudgetExhausted, match="outcome unknown"):
        handler({"call_id": CALL_ID, "profile": "default", "recording": {"bucket": aws.bucket, "key": key},
                 "slot": spent}, lambda_context)
    assert not TranscriptionSemaphore(aws.limits_table, aws.ddb).holders()


def test_a_call_failed_by_an_outage_after_its_transcript_completed_is_redriven_without_transcribing_again(aws):
    # GIVEN a call whose transcript is completed (CheckTranscript stored it) and that FAILED in FetchTranscript
    # because the API kept failing through the outage budget
    import json

    from call_analytics.adapters.calls_table import CallsTable
    from call_analytics.logic.redrive import RedriveDeps, redrive_call

    table = CallsTable(aws.calls_table, aws.ddb)
    table.create_call(CALL_ID, status="RECEIVED", recording_bucket=aws.bucket, recording_key="recordings/a.wav",
                      recording_size=1000)
    table.set_status(CALL_ID, "TRANSCRIBING", fields={"transcript_id": "tr-1", "profile": "default",
                                                      "transcript_status": "completed"})
    table.set_status(CALL_ID, "FAILED", fields={"failure_error": "OutageBudgetExhausted", "failure_notified": True,
                                                "failure_reason": "FetchTranscript: the API kept failing ..."})
    deps = RedriveDeps.from_clients(dynamodb=aws.ddb, s3=aws.s3, stepfunctions=aws.sfn, calls_table=aws.calls_table,
                                    bucket=aws.bucket, state_machine_arn=aws.machine_arn)
    # WHEN it is re-driven
    result = redrive_call(CALL_ID, deps)
    # THEN the new execution reuses the finished (paid) transcript: HasTranscript? -> FetchTranscript
    assert result.outcome == "started" and result.resubmit is False
    [execution] = [e for e in aws.executions() if e["name"] == f"{CALL_ID}-r1"]
    started = json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["transcript_id"] == "tr-1" and started["poll"]["status"] == "completed"
