"""Issue 10, the cases a hostile upload finds: zero-byte uploads (2), an upstream that echoes the API key (3),
file types and suffix cases (6), a call whose analyses are all invalid (7), re-drives of hopeless inputs (8)."""

from __future__ import annotations

import io
import json
import logging

import pytest
import requests
from call_analytics import redaction, wiring
from call_analytics.adapters.assemblyai import AssemblyAIClient
from call_analytics.adapters.calls_table import CallsTable
from call_analytics.errors import PermanentError, TranscriptionFailed, TransientError
from call_analytics.recordings import call_id_for
from requests.structures import CaseInsensitiveDict
from test_handler_start_call import run, upload, wav_bytes
from unit_fakes import FakeAssemblyAI

KEY = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # what the secret holds in these tests


@pytest.fixture(autouse=True)
def _no_registered_secrets():
    redaction.forget_secrets()  # a secret registered by another test must not make these pass
    yield
    redaction.forget_secrets()


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


def everything_stored(aws, call_id: str) -> str:
    """The call record (with its history) and every notification, as one text."""
    return json.dumps({"record": aws.call_record(call_id), "notes": aws.notifications()}, default=str)


# ---- (2) zero-byte uploads ---------------------------------------------------------------------------------------
def test_zero_byte_upload_is_recorded_failed_with_the_reason_and_announced(aws, fake_aai, lambda_context):
    key = "recordings/empty call.wav"
    [result] = run(upload(aws, key, b""), lambda_context)
    assert result["outcome"] == "failed", result  # before: "skipped", no record, no notification
    record = aws.call_record(result["call_id"])
    assert record["status"] == "FAILED" and record["failure_error"] == "InvalidRecording"
    assert "empty (0 bytes)" in record["failure_reason"]
    assert record["recording_key"] == key and record["recording_size"] == 0
    assert [h["status"] for h in record["history"]] == ["RECEIVED", "FAILED"]
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "FAILED", "profile": "default"}
    assert note["message"]["error"]["type"] == "InvalidRecording" and "empty" in note["message"]["error"]["reason"]
    assert aws.executions() == [] and fake_aai.submissions == []
    # the same event again: nothing new
    assert run(upload(aws, key, b""), lambda_context)[0]["outcome"] == "duplicate"
    assert aws.notifications() == []


# ---- (6) file types and the case of their suffix ---------------------------------------------------------------
@pytest.mark.parametrize("key", ["recordings/a.Mp3", "recordings/b.WAV", "recordings/c.Wav", "recordings/d.aiff",
                                 "recordings/e.AIF"])
def test_any_case_of_an_accepted_type_starts_a_call(aws, fake_aai, lambda_context, key):
    [result] = run(upload(aws, key, wav_bytes()), lambda_context)
    assert result["outcome"] == "started", result
    assert [e["name"] for e in aws.executions()] == [result["call_id"]]


@pytest.mark.parametrize("key, shown", [("recordings/notes.txt", "'.txt'"), ("recordings/README", "(no extension)"),
                                        ("recordings/photo.JPG", "'.JPG'")])
def test_an_unsupported_type_is_refused_with_a_recorded_announced_reason(aws, fake_aai, lambda_context, key, shown):
    [result] = run(upload(aws, key, b"hello", metadata={"profile": "sales"}), lambda_context)
    assert result["outcome"] == "failed", result  # before: "skipped", nothing recorded or announced
    record = aws.call_record(result["call_id"])
    assert record["status"] == "FAILED" and record["failure_error"] == "InvalidRecording"
    assert f"unsupported file type {shown}" in record["failure_reason"] and ".wav" in record["failure_reason"]
    [note] = aws.notifications()
    # the profile the upload chose is on the notification: subscribers filtering on it hear of the refusal
    assert note["attributes"] == {"status": "FAILED", "profile": "sales"}
    assert aws.executions() == []


# ---- (3) an upstream that echoes the key ------------------------------------------------------------------------
class EchoingSessionDouble:
    """A requests.Session stand-in (no socket): every answer echoes the key and the Authorization header it got."""

    def __init__(self, status: int, shape: str = "error"):
        self.status, self.shape, self.requests = status, shape, []

    def request(self, method, url, *, headers=None, **kwargs):
        self.requests.append((method, url))
        auth = (headers or {}).get("Authorization")
        if self.shape == "error":
            body = {"error": f"Authentication error: API token {auth} invalid (headers: {{'Authorization': "
                             f"'{auth}'}}); see https://api.example/v2?token={auth}&api_key={auth}"}
        else:  # a finished job whose error text quotes the request
            body = {"id": "tr-1", "status": "error",
                    "error": f"Download failed for audio_url with Authorization: Bearer {auth} (key {auth})"}
        response = requests.Response()
        response.status_code, response._content = self.status, json.dumps(body).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response


def echoing_client(status: int, shape: str = "error") -> AssemblyAIClient:
    return AssemblyAIClient(lambda: KEY, api_base_url="https://api.example", llm_base_url="https://llm.example/v1",
                            session=EchoingSessionDouble(status, shape), max_attempts=2, sleep=lambda s: None,
                            jitter=lambda: 0.0)


@pytest.mark.parametrize("status, error", [(401, PermanentError), (400, PermanentError), (503, TransientError)])
def test_adapter_errors_never_carry_the_key(status, error):
    client = echoing_client(status)
    calls = (lambda: client.get_transcript("tr-1"), lambda: client.chat_completion({"model": "m", "messages": []}),
             lambda: client.submit_transcript({"audio_url": "https://audio.example/a.wav"}))
    for call in calls:
        with pytest.raises(error) as caught:
            call()
        text = str(caught.value)
        assert KEY not in text, text  # before: the API's error text went out verbatim
        assert "[REDACTED]" in text and "Authentication error" in text  # the useful part stays


def test_a_key_echoed_by_the_api_stays_out_of_record_history_sns_sfn_and_logs(aws, lambda_context, monkeypatch):
    """The whole path: CheckTranscript's TranscriptionFailed (the Lambda error Step Functions stores), then
    RecordFailure writing the record, its history and the FAILED message, and the log lines on the way."""
    client = echoing_client(200, shape="job_error")
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: client)
    calls = CallsTable(aws.calls_table, aws.ddb)
    call_id = "c-0123456789abcdef0123"
    calls.create_call(call_id, status="RECEIVED", recording_bucket=aws.bucket, recording_key="recordings/a.wav")
    calls.set_status(call_id, "TRANSCRIBING", fields={"transcript_id": "tr-1", "profile": "default"})
    state = {"call_id": call_id, "transcript_id": "tr-1", "profile": "default",
             "recording": {"bucket": aws.bucket, "key": "recordings/a.wav", "version_id": None, "size": 10},
             "poll": {"status": "queued", "wait_seconds": 5, "polls": 0, "started_at": "2026-11-21T10:00:00+00:00"}}
    from call_analytics.handlers.check_transcript import handler as check
    from call_analytics.handlers.record_failure import handler as record_failure
    from call_analytics.observability import logger

    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(TranscriptionFailed) as caught:
            check(state, lambda_context)
        # what Step Functions records (errorMessage -> the Catch's Cause) is the handler's exception message
        cause = json.dumps({"errorType": type(caught.value).__name__, "errorMessage": str(caught.value)})
        assert KEY not in cause and "Download failed" in cause
        logger.warning("upstream said %s", caught.value.args[0], extra={"echo": f"Authorization: {KEY}"})
        logger.warning(f"raw echo {KEY}")  # even a line built from the raw text
        # a Cause written elsewhere (e.g. a Lambda timeout) still has its auth values masked at RecordFailure
        record_failure({**state, "error": {"Error": "TranscriptionFailed", "Cause": cause}}, lambda_context)
    finally:
        logger.setLevel(logging.WARNING)
    stored = everything_stored(aws, call_id)
    assert KEY not in stored and "FAILED" in stored and "[REDACTED]" in stored
    assert KEY not in log.getvalue() and "upstream said" in log.getvalue() and "raw echo [REDACTED]" in log.getvalue()


def test_record_failure_masks_auth_values_it_was_never_told_about(aws, lambda_context):
    """Patterns, not only the registered key: an Authorization header, a bearer token, a key-looking parameter."""
    cause = ("PermanentError: upstream replied 'Authorization: abc123secretvalue' and Bearer eyJhbGciOiJIUzI1NiJ9.x.y "
             "for https://api.example/v2/transcript?api_key=k-77777777&x=1")
    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call("c-1", status="RECEIVED", recording_bucket=aws.bucket, recording_key="recordings/a.wav")
    from call_analytics.handlers.record_failure import handler as record_failure

    record_failure({"call_id": "c-1", "profile": "default", "error": {"Error": "PermanentError", "Cause": cause}},
                   lambda_context)
    stored = everything_stored(aws, "c-1")
    for secret in ("abc123secretvalue", "eyJhbGciOiJIUzI1NiJ9", "k-77777777"):
        assert secret not in stored, secret
    assert "upstream replied" in stored and "x=1" in stored


def test_redact_keeps_ordinary_text():
    text = "Audio duration is too short. Authentication error, API token missing/invalid (task_token=abc)"
    assert redaction.redact(text) == text


# ---- (7) a call whose every analysis is invalid ------------------------------------------------------------------
CALL_ID = "c-0123456789abcdef0123"


def finished_state(aws, analyses: list[str]) -> dict:
    return {"call_id": CALL_ID, "transcript_id": "tr-1", "profile": "default",
            "recording": {"bucket": aws.bucket, "key": "recordings/a.wav", "version_id": None, "size": 10},
            "transcript": {"audio_duration": 45, "has_speech": True, "skip_reason": None, "analyses": analyses}}


@pytest.mark.parametrize("valid, status, summary", [
    ({"phases": False, "sentiment": False, "action_items": False}, "PARTIAL", "none"),
    ({"phases": True, "sentiment": False, "action_items": True}, "PARTIAL", "some"),
    ({"phases": True, "sentiment": True, "action_items": True}, "COMPLETED", "all"),
])
def test_finished_call_outcome_says_how_many_analyses_are_valid(aws, lambda_context, valid, status, summary):
    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call(CALL_ID, status="ANALYZING", recording_bucket=aws.bucket, recording_key="recordings/a.wav")
    for name, ok in valid.items():
        calls.put_analysis(CALL_ID, name, {"valid": ok, "result": {} if ok else None, "errors": [] if ok else ["x"]})
    from call_analytics.handlers.finalize_call import handler as finalize

    result = finalize(finished_state(aws, list(valid)), lambda_context)
    assert result["status"] == status  # before: COMPLETED whatever the analyses said
    count = sum(valid.values())
    [note] = aws.notifications()
    assert note["attributes"] == {"status": status, "profile": "default", "analyses_valid": summary,
                                  "analyses_valid_count": str(count), "analyses_total": "3", "categories": "[]"}
    assert note["message"]["status"] == status and note["message"]["analyses_valid"] == summary
    record = calls.get_call(CALL_ID)
    assert (record["status"], record["analyses_valid"], record["analyses_valid_count"]) == (status, summary, count)


def test_a_planned_analysis_without_an_item_counts_as_invalid(aws, lambda_context):
    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call(CALL_ID, status="ANALYZING", recording_bucket=aws.bucket, recording_key="recordings/a.wav")
    calls.put_analysis(CALL_ID, "phases", {"valid": True, "result": {}})
    from call_analytics.handlers.finalize_call import handler as finalize

    assert finalize(finished_state(aws, ["phases", "sentiment"]), lambda_context)["status"] == "PARTIAL"
    assert calls.get_call(CALL_ID)["invalid_analyses"] == ["sentiment"]


def test_combined_mode_counts_the_sections_its_one_request_stored(aws, lambda_context):
    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call(CALL_ID, status="ANALYZING", recording_bucket=aws.bucket, recording_key="recordings/a.wav")
    for name in ("phases", "sentiment", "action_items"):
        calls.put_analysis(CALL_ID, name, {"valid": True, "result": {}, "request": "combined"})
    from call_analytics.handlers.finalize_call import handler as finalize

    assert finalize(finished_state(aws, ["combined"]), lambda_context)["status"] == "COMPLETED"
    assert calls.get_call(CALL_ID)["analyses_total"] == 3


def test_partial_is_a_finished_call_for_the_dead_letter_consumer(aws):
    from call_analytics.logic.record_failure import fail_call

    calls = CallsTable(aws.calls_table, aws.ddb)
    calls.create_call(CALL_ID, status="PARTIAL", recording_bucket=aws.bucket, recording_key="recordings/a.wav")

    class NotifierDouble:
        published: list = []

        def publish(self, *args, **kwargs):
            self.published.append(args)

    notifier = NotifierDouble()
    assert fail_call(CALL_ID, error_type="States.Timeout", reason="late", profile=None, recording=None, calls=calls,
                     notifier=notifier, spare_completed=True) is None
    assert calls.get_call(CALL_ID)["status"] == "PARTIAL" and notifier.published == []


# ---- (8) re-drives of hopeless inputs ---------------------------------------------------------------------------
def failed_call(aws, calls, name: str, error: str, reason: str) -> str:
    key = f"recordings/{name}.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=wav_bytes())
    call_id = call_id_for(aws.bucket, key, None, name)
    calls.create_call(call_id, status="RECEIVED", recording_bucket=aws.bucket, recording_key=key, recording_size=10)
    calls.set_status(call_id, "FAILED", fields={"failure_error": error, "failure_reason": reason,
                                                "profile": "default"})
    return call_id


def test_redrive_failed_skips_calls_that_failed_for_good_unless_forced(aws):
    from call_analytics.logic.redrive import RedriveDeps, redrive_failed

    deps = RedriveDeps.from_clients(dynamodb=aws.ddb, s3=aws.s3, stepfunctions=aws.sfn, calls_table=aws.calls_table,
                                    bucket=aws.bucket, state_machine_arn=aws.machine_arn)
    hopeless = {
        failed_call(aws, deps.calls, "notes", "InvalidRecording",
                    "InvalidRecording: s3://b/recordings/notes.txt: unsupported file type '.txt'"),
        failed_call(aws, deps.calls, "empty", "InvalidRecording", "InvalidRecording: the recording is empty (0 bytes)"),
        failed_call(aws, deps.calls, "text", "TranscriptionFailed",
                    "TranscriptionFailed: AssemblyAI transcript t failed: File does not appear to contain audio. "
                    "File type is text/plain (ASCII text)."),
        failed_call(aws, deps.calls, "short", "TranscriptionFailed",
                    "TranscriptionFailed: AssemblyAI transcript t failed: Audio duration is too short."),
    }
    worth_it = {failed_call(aws, deps.calls, "outage", "TransientError", "TransientError: HTTP 503"),
                failed_call(aws, deps.calls, "engine", "TranscriptionFailed",
                            "TranscriptionFailed: Internal server error, please try again later.")}
    results = {r.call_id: r for r in redrive_failed(deps)}
    assert {c for c, r in results.items() if r.outcome == "started"} == worth_it  # before: all six started
    for call_id in hopeless:
        assert results[call_id].outcome == "skipped" and results[call_id].reason.startswith("failed for good")
        assert "force" in results[call_id].reason
    assert len(aws.executions()) == 2
    forced = redrive_failed(deps, force=True)
    assert {r.call_id for r in forced if r.outcome == "started"} == hopeless


def test_standard_library_log_records_are_redacted_by_the_root_handlers():
    """The adapters log through `logging.getLogger(__name__)` (the Lambda runtime's root handler prints them)."""
    stream = io.StringIO()
    root_handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(root_handler)
    try:
        redaction.install_log_redaction()
        redaction.register_secret(KEY)
        log = logging.getLogger("call_analytics.adapters.assemblyai")
        log.warning("outcome unknown: %s", f"HTTP 503: {KEY}", extra={"reason": f"Authorization: {KEY}"})
        try:
            raise TransientError(f"echo {KEY}")
        except TransientError:
            log.exception("failed")
    finally:
        root.removeHandler(root_handler)
    text = stream.getvalue()
    assert "outcome unknown: HTTP 503: [REDACTED]" in text and "TransientError: echo [REDACTED]" in text
    assert KEY not in text


def test_callctl_renders_a_partial_call_and_its_notification():
    from rich.console import Console

    from callctl import render
    from callctl.data import STATUSES, CallView
    from callctl.subscription import Notification

    assert "PARTIAL" in STATUSES  # `callctl calls --status PARTIAL`
    console = Console(record=True, width=160)
    console.print(render.call_renderable(CallView({
        "call_id": "c-1", "status": "PARTIAL", "analyses_valid": "some", "analyses_valid_count": 2,
        "analyses_total": 3, "invalid_analyses": ["sentiment"], "history": []})))
    message = {"call_id": "c-1", "status": "PARTIAL", "analyses_valid": "none", "analyses_valid_count": 0,
               "analyses_total": 1, "digest": {"invalid_analyses": ["phases"]}}
    console.print(render.notification_renderable(Notification(message, {"status": "PARTIAL"}, None, "m-1")))
    text = console.export_text()
    assert "PARTIAL" in text and "2 of 3 valid (invalid: sentiment)" in text
    assert "0 of 1 valid (invalid: phases)" in text
