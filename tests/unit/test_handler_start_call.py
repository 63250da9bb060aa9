"""start_call and submit_transcription handlers against moto: record, execution, slot, submission, idempotency,
failures, skips."""

from __future__ import annotations

import json
import struct
from urllib.parse import quote_plus

import pytest
from call_analytics import wiring
from call_analytics.errors import PermanentError, TransientError
from call_analytics.recordings import call_id_for
from unit_fakes import FakeAssemblyAI


def wav_bytes(channels: int = 1, seconds: float = 0.1) -> bytes:
    data = b"\x00\x00" * channels * int(8000 * seconds)
    fmt = struct.pack("<HHIIHH", 1, channels, 8000, 8000 * 2 * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def s3_event(bucket: str, key: str, size: int, etag: str = "etag-1", version_id: str | None = None,
             event_name: str = "ObjectCreated:Put") -> dict:
    obj = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B"}
    if version_id:
        obj["versionId"] = version_id
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }]}


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


def upload(aws, key: str, body: bytes, metadata: dict | None = None) -> dict:
    response = aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body, Metadata=metadata or {})
    return s3_event(aws.bucket, key, len(body), etag=response["ETag"].strip('"'))


def run(event, context):
    from call_analytics.handlers.start_call import handler

    return handler(event, context)["results"]


def execution_input(aws, index: int = 0) -> dict:
    executions = sorted(aws.executions(), key=lambda e: e["startDate"])
    return json.loads(aws.sfn.describe_execution(executionArn=executions[index]["executionArn"])["input"])


def submit(state: dict, context) -> dict:
    from call_analytics.handlers.submit_transcription import handler

    return handler(state, context)


def test_upload_records_queues_and_starts_execution_without_submitting(aws, fake_aai, lambda_context):
    key = "recordings/2026/Call with Dana + refund é.wav"
    event = upload(aws, key, wav_bytes(channels=1))
    [result] = run(event, lambda_context)

    call_id = call_id_for(aws.bucket, key, None, event["Records"][0]["s3"]["object"]["eTag"])
    assert result["outcome"] == "started" and result["call_id"] == call_id
    assert fake_aai.submissions == []  # the state machine submits (after getting a transcription slot)
    # the execution is named after the call and carries the initial state: no transcript_id yet
    [execution] = aws.executions()
    assert execution["name"] == call_id
    state = execution_input(aws)
    assert state == {"call_id": call_id, "profile": "default",
                     "recording": {"bucket": aws.bucket, "key": key, "version_id": None, "size": len(wav_bytes())}}
    record = aws.call_record(call_id)
    assert record["status"] == "QUEUED" and "transcript_id" not in record
    assert [h["status"] for h in record["history"]] == ["RECEIVED", "QUEUED"]
    assert record["execution_arn"] == execution["executionArn"]
    # the profile snapshot for the later steps
    snapshot = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=f"results/{call_id}/profile.json")["Body"].read())
    assert snapshot["name"] == "default"


def test_submit_gets_a_slot_submits_and_sets_the_first_wait_from_the_duration(aws, fake_aai, lambda_context):
    key = "recordings/2026/Call with Dana + refund é.wav"
    body = wav_bytes(channels=1, seconds=600)  # 10 minutes of 8 kHz 16-bit mono
    [result] = run(upload(aws, key, body), lambda_context)
    slot = submit(execution_input(aws), lambda_context)
    # one transcript job, presigned URL of the decoded key, mono -> speaker labels
    [params] = fake_aai.submissions
    assert params["speaker_labels"] is True and "multichannel" not in params
    assert params["speech_models"] == ["universal-3-pro", "universal-2"]
    assert params["audio_url"].startswith("https://") and "X-Amz-Signature" in params["audio_url"]
    assert "Call%20with%20Dana%20%2B%20refund%20%C3%A9.wav" in params["audio_url"]
    assert slot["acquired"] is True and slot["transcript_id"] == "tr-1" and slot["attempts"] == 1
    assert slot["estimated_duration"] == pytest.approx(600.0)
    assert slot["wait_seconds"] == 5  # POLL_INITIAL_SECONDS: the first poll never waits for the duration estimate
    record = aws.call_record(result["call_id"])
    assert record["status"] == "TRANSCRIBING" and record["transcript_id"] == "tr-1"
    assert [h["status"] for h in record["history"]] == ["RECEIVED", "QUEUED", "TRANSCRIBING"]
    assert record["audio_channels"] == 1 and record["duration_estimate_source"] == "header"
    # a retried attempt neither submits twice nor takes a second slot
    again = submit(execution_input(aws), lambda_context)
    assert again["transcript_id"] == "tr-1" and len(fake_aai.submissions) == 1
    from call_analytics.adapters.limits import TranscriptionSemaphore

    assert TranscriptionSemaphore(aws.limits_table, aws.ddb).count() == 1


def test_submit_waits_when_the_slots_are_taken_and_gives_up_after_the_budget(aws, fake_aai, lambda_context):
    from call_analytics.adapters.limits import TranscriptionSemaphore
    from call_analytics.errors import SlotWaitExceeded

    semaphore = TranscriptionSemaphore(aws.limits_table, aws.ddb)
    assert semaphore.acquire("c-other-1", 2) and semaphore.acquire("c-other-2", 2)  # TRANSCRIPTION_CONCURRENCY=2
    run(upload(aws, "recordings/q.wav", wav_bytes()), lambda_context)
    state = execution_input(aws)
    waits = []
    with pytest.raises(SlotWaitExceeded, match="TRANSCRIPTION_CONCURRENCY=2"):
        for _ in range(100):
            slot = submit(state, lambda_context)
            assert slot["acquired"] is False and fake_aai.submissions == []
            waits.append(slot["wait_seconds"])
            state = {**state, "slot": slot}
    assert 3 <= waits[0] <= 5 and max(waits) <= 60  # 5 s doubling to SLOT_WAIT_MAX_SECONDS, equal jitter
    assert sum(waits) <= 600  # SLOT_WAIT_BUDGET_SECONDS
    assert state["slot"]["attempts"] == len(waits) and state["slot"]["waited_seconds"] == sum(waits)
    # a slot frees up: the next attempt (inside the budget) submits
    semaphore.release("c-other-1")
    state["slot"]["waited_seconds"] = 0
    slot = submit(state, lambda_context)
    assert slot["acquired"] is True and slot["attempts"] == len(waits) + 1 and len(fake_aai.submissions) == 1


def test_duplicate_event_does_not_start_twice(aws, fake_aai, lambda_context):
    event = upload(aws, "recordings/a.wav", wav_bytes())
    first = run(event, lambda_context)
    second = run(event, lambda_context)
    assert first[0]["outcome"] == "started" and second[0]["outcome"] == "duplicate"
    assert len(aws.executions()) == 1


def test_replay_after_idempotency_expiry_is_caught_by_the_call_record(aws, fake_aai, lambda_context):
    event = upload(aws, "recordings/a.wav", wav_bytes())
    run(event, lambda_context)
    aws.ddb.delete_table(TableName="idempotency")  # as if the idempotency record had expired...
    aws.ddb.create_table(TableName="idempotency", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    [result] = run(event, lambda_context)
    assert result["outcome"] == "duplicate" and "call already started" in result["reason"]
    assert len(aws.executions()) == 1


def test_stereo_wav_requests_multichannel_and_metadata_chooses_the_profile(aws, fake_aai, lambda_context):
    event = upload(aws, "recordings/stereo.wav", wav_bytes(channels=2), metadata={"profile": "sales"})
    [result] = run(event, lambda_context)
    assert result["outcome"] == "started"
    state = execution_input(aws)
    assert state["profile"] == "sales"
    submit(state, lambda_context)
    [params] = fake_aai.submissions
    assert params["multichannel"] is True and "speaker_labels" not in params
    assert params["redact_pii"] is True  # the sales profile


def test_key_segment_chooses_profile_and_s3_profile_overrides_bundled(aws, fake_aai, lambda_context):
    custom = json.loads(open(wiring.__file__.replace("wiring.py", "profiles/default.json")).read())
    custom["name"] = "support"
    custom["transcription"]["keyterms_prompt"] = ["Northwind"]
    aws.s3.put_object(Bucket=aws.bucket, Key="profiles/support.json", Body=json.dumps(custom).encode())
    [result] = run(upload(aws, "recordings/profile=support/x.wav", wav_bytes()), lambda_context)
    assert result["outcome"] == "started"
    submit(execution_input(aws), lambda_context)
    assert fake_aai.submissions[0]["keyterms_prompt"] == ["Northwind"]


def test_bad_profile_records_failed_and_notifies(aws, fake_aai, lambda_context):
    aws.s3.put_object(Bucket=aws.bucket, Key="profiles/broken.json",
                      Body=json.dumps({"name": "broken", "llm": {"model": ""}, "analyses": {}}).encode())
    event = upload(aws, "recordings/profile=broken/x.wav", wav_bytes())
    [result] = run(event, lambda_context)
    assert result["outcome"] == "failed" and "InvalidProfile" in result["reason"]
    assert fake_aai.submissions == [] and aws.executions() == []
    record = aws.call_record(result["call_id"])
    assert record["status"] == "FAILED" and "llm.model" in record["failure_reason"]
    assert [h["status"] for h in record["history"]] == ["RECEIVED", "FAILED"]
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "FAILED", "profile": "broken"}
    assert note["message"]["call_id"] == result["call_id"] and note["message"]["error"]["type"] == "InvalidProfile"
    assert note["message"]["recording"]["key"] == "recordings/profile=broken/x.wav"
    # a replayed event announces nothing new
    run(event, lambda_context)
    assert aws.notifications() == []


def test_unknown_profile_fails_at_start_and_api_rejection_fails_in_submit(aws, fake_aai, lambda_context):
    [result] = run(upload(aws, "recordings/x.wav", wav_bytes(), metadata={"profile": "nosuch"}), lambda_context)
    assert result["outcome"] == "failed" and "unknown profile 'nosuch'" in result["reason"]
    assert len(aws.notifications()) == 1
    # an API 4xx at submission raises PermanentError (Catch -> RecordFailure) and gives the slot back
    from call_analytics.adapters.limits import TranscriptionSemaphore

    fake_aai.submit_error = PermanentError(
        "AssemblyAI POST /v2/transcript failed with HTTP 400: format_text must be a Boolean"
    )
    run(upload(aws, "recordings/y.wav", wav_bytes()), lambda_context)
    with pytest.raises(PermanentError, match="format_text must be a Boolean"):
        submit(execution_input(aws), lambda_context)
    assert TranscriptionSemaphore(aws.limits_table, aws.ddb).count() == 0


def test_transient_error_in_submit_answers_an_outage_wait_and_the_next_attempt_succeeds(aws, fake_aai,
                                                                                         lambda_context):
    [result] = run(upload(aws, "recordings/z.wav", wav_bytes()), lambda_context)
    fake_aai.submit_error = TransientError("AssemblyAI POST /v2/transcript failed with HTTP 503")
    waiting = submit(execution_input(aws), lambda_context)  # WaitForSlot waits it out (call_analytics/outages.py)
    assert waiting["acquired"] is False and waiting["outage"]["error"] == "TransientError"
    fake_aai.submit_error = None
    slot = submit({**execution_input(aws), "slot": waiting}, lambda_context)  # after the wait
    assert slot["acquired"] is True and len(fake_aai.submissions) == 1
    assert [h["status"] for h in aws.call_record(result["call_id"])["history"]] == ["RECEIVED", "QUEUED",
                                                                                    "TRANSCRIBING"]


def test_upload_delivery_streams_the_bytes(aws, fake_aai, lambda_context, monkeypatch):
    monkeypatch.setenv("AUDIO_DELIVERY", "upload")
    body = wav_bytes()
    [result] = run(upload(aws, "recordings/up.wav", body), lambda_context)
    assert result["outcome"] == "started"
    submit(execution_input(aws), lambda_context)
    assert fake_aai.uploads == [body]
    assert fake_aai.submissions[0]["audio_url"] == "https://cdn.example/upload/1"


@pytest.mark.parametrize("key, body, event_name, reason", [
    ("recordings/folder/", b"", "ObjectCreated:Put", "folder marker"),
    ("results/c-1/transcript.json", b"{}", "ObjectCreated:Put", "results/profiles object"),
])
def test_non_matching_keys_are_skipped(aws, fake_aai, lambda_context, key, body, event_name, reason):
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body)
    [result] = run(s3_event(aws.bucket, key, len(body), event_name=event_name), lambda_context)
    assert result["outcome"] == "skipped" and reason in result["reason"]
    assert fake_aai.submissions == [] and aws.executions() == []


def test_object_deleted_before_processing_is_an_invalid_recording(aws, fake_aai, lambda_context):
    [result] = run(s3_event(aws.bucket, "recordings/gone.wav", 100), lambda_context)
    assert result["outcome"] == "failed" and "InvalidRecording" in result["reason"]
    assert aws.executions() == []
    assert aws.notifications()[0]["message"]["error"]["type"] == "InvalidRecording"


def test_start_execution_already_exists_is_harmless(aws, fake_aai, lambda_context):
    from call_analytics.adapters.workflow import Workflow

    workflow = Workflow(aws.machine_arn, aws.sfn)
    arn, started = workflow.start("c-123", {"call_id": "c-123"})
    again_arn, again = workflow.start("c-123", {"call_id": "c-123", "other": 1})
    assert started is True and again is False and again_arn == arn
