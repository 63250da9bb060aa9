"""Live insights onto the call record (logic/live_insights.py, handler store_live_insight) and the recording's
upload joining that record (start_call, metadata `call-id`), against moto."""

from __future__ import annotations

import json

import pytest
from call_analytics.adapters.calls_table import CallsTable

CALL_ID = "edge-20261204T101500Z-1a2b3c4d"


def insight(turn: int, session: int = 1, content: str | None = None, **extra) -> dict:
    """The edge client's message body (edge_client/client.py MESSAGE_SCHEMA)."""
    return {"schema": "edge.llm_response.v1", "type": "llm_response",
            "dedup_key": f"{CALL_ID}:sess-{session}:{turn}", "call_id": CALL_ID, "session_id": f"sess-{session}",
            "session_number": session, "turn_order": turn, "agent_id": "agent-7", "profile": "default",
            "transcript": f"turn {turn} text", "speaker_label": None,
            "llm": {"content": content or f"summary of turn {turn}", "model": "claude-haiku-4-5-20251001",
                    "response_model": "claude-haiku-4-5-20251001", "usage": {"input_tokens": 30}},
            "timestamps": {"call_started_at": "2026-12-04T10:15:00.000+00:00",
                           "turn_final_at": "2026-12-04T10:15:09.000+00:00"}, **extra}


def sqs_event(*bodies) -> dict:
    return {"Records": [{"messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": json.dumps(body),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:live", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def handler(name):
    import importlib

    return importlib.import_module(f"call_analytics.handlers.{name}").handler


@pytest.fixture
def calls(aws):
    return CallsTable(aws.calls_table, aws.ddb)


def test_insights_are_stored_once_in_turn_order_and_the_call_is_live(aws, calls, lambda_context):
    store = handler("store_live_insight")
    answer = store(sqs_event(insight(2), insight(0), insight(1)), lambda_context)
    assert answer == {"batchItemFailures": []}
    store(sqs_event(insight(1, content="a redelivery")), lambda_context)  # the same dedup key again
    record = calls.get_call(CALL_ID)
    assert record["status"] == "LIVE" and record["agent_id"] == "agent-7" and record["live_insights"] == 3
    items = calls.list_live_insights(CALL_ID)
    assert [i["turn_order"] for i in items] == [0, 1, 2]
    assert items[1]["content"] == "summary of turn 1"  # the first copy stays
    # a reconnect starts a new session whose turns sort after the first session's
    store(sqs_event(insight(0, session=2)), lambda_context)
    assert [(i["session_number"], i["turn_order"]) for i in calls.list_live_insights(CALL_ID)] == [
        (1, 0), (1, 1), (1, 2), (2, 0)]


def test_a_malformed_message_fails_only_its_record(aws, calls, lambda_context):
    bad = insight(0)
    bad["call_id"] = "../../etc"
    answer = handler("store_live_insight")(sqs_event(insight(1), bad, {"not": "an insight"}), lambda_context)
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == ["m-1", "m-2"]
    assert [i["turn_order"] for i in calls.list_live_insights(CALL_ID)] == [1]


def test_the_uploaded_recording_joins_the_live_call(aws, calls, lambda_context):
    handler("store_live_insight")(sqs_event(insight(0)), lambda_context)
    key = f"recordings/agent-7/2026/12/04/{CALL_ID}.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b"RIFF" + b"\0" * 2000,
                      Metadata={"call-id": CALL_ID, "agent-id": "agent-7", "source": "edge-client"})
    event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": aws.bucket}, "object": {"key": key, "size": 2004, "eTag": "abc"}}}]}
    [result] = handler("start_call")(event, lambda_context)["results"]
    assert result["outcome"] == "started" and result["call_id"] == CALL_ID
    record = calls.get_call(CALL_ID)
    assert record["status"] == "QUEUED" and record["recording_key"] == key and record["agent_id"] == "agent-7"
    assert [h["status"] for h in record["history"]] == ["LIVE", "QUEUED"]
    assert calls.list_live_insights(CALL_ID)  # still there, next to the analyses to come


def test_an_upload_with_a_bad_call_id_fails_under_its_own_id_with_the_reason(aws, calls, lambda_context):
    key = "recordings/bad.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b"RIFF" + b"\0" * 2000, Metadata={"call-id": "a/b c"})
    event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": aws.bucket}, "object": {"key": key, "size": 2004, "eTag": "abd"}}}]}
    [result] = handler("start_call")(event, lambda_context)["results"]
    assert result["outcome"] == "failed" and result["call_id"].startswith("c-")
    assert "metadata call-id='a/b c'" in calls.get_call(result["call_id"])["failure_reason"]
