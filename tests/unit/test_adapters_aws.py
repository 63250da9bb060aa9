"""AWS adapters against moto: the API key secret, the calls table's conditional writes and history."""

from __future__ import annotations

import boto3
import pytest
from call_analytics import wiring
from call_analytics.adapters.calls_table import CallsTable
from call_analytics.adapters.secrets import api_key_from_secret_string, load_api_key
from call_analytics.errors import PermanentError


def test_secret_as_json_or_raw_key(aws):
    assert load_api_key(aws.secret_arn) == "test-key-123"
    raw_arn = boto3.client("secretsmanager").create_secret(Name="raw", SecretString="  raw-key-456\n")["ARN"]
    assert load_api_key(raw_arn) == "raw-key-456"


def test_bad_or_missing_secret_is_a_clear_permanent_error(aws):
    with pytest.raises(PermanentError, match='no non-empty "api_key"'):
        api_key_from_secret_string('{"key": "x"}')
    with pytest.raises(PermanentError, match="empty"):
        api_key_from_secret_string("   ")
    with pytest.raises(PermanentError, match="cannot read the AssemblyAI secret"):
        load_api_key("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")


def test_wired_client_reads_the_key_lazily_and_hides_it(aws):
    client = wiring.assemblyai_client(aws.secret_arn, "http://127.0.0.1:9", None)
    assert client._key() == "test-key-123"
    assert "test-key-123" not in repr(client)
    assert wiring.assemblyai_client(aws.secret_arn, "http://127.0.0.1:9", None) is client  # cached


def test_calls_table_conditional_writes_and_history(aws):
    table = CallsTable(aws.calls_table, aws.ddb)
    assert table.create_call("c-1", status="RECEIVED", detail="upload", recording_key="recordings/a.wav") is True
    assert table.create_call("c-1", status="RECEIVED") is False  # already there: untouched
    assert table.set_status("c-1", "TRANSCRIBING", fields={"transcript_id": "t", "score": 0.5}) is True
    assert table.set_status("c-1", "FAILED", detail="boom") is True
    assert table.set_status("c-1", "FAILED", only_if_not={"FAILED"}) is False
    assert table.set_status("c-missing", "ANALYZING") is False  # must_exist by default
    assert table.update_fields("c-1", {"note": "x"}, only_if_status="COMPLETED") is False
    record = table.get_call("c-1")
    assert record["recording_key"] == "recordings/a.wav" and record["score"] == 0.5
    assert [(h["status"], h.get("detail")) for h in record["history"]] == [
        ("RECEIVED", "upload"), ("TRANSCRIBING", None), ("FAILED", "boom")]
    assert "note" not in record
    table.put_analysis("c-1", "phases", {"valid": True, "result": {"phases": []}, "latency_ms": 12})
    assert [(i["analysis"], i["valid"]) for i in table.list_analyses("c-1")] == [("phases", True)]
    assert [r["call_id"] for r in table.recent_by_status("FAILED")] == ["c-1"]
