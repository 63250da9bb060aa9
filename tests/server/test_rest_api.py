"""REST v2 behaviour and error paths, checked on the wire (status codes, bodies, lifecycle, webhooks)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import start_aai_server

from .helpers import Api, RecordingHttpDouble, wait_for


@pytest.fixture(scope="module")
def api(server) -> Api:
    return Api(server.base_url, server.api_key)


def test_health(server):
    assert requests.get(f"{server.base_url}/health", timeout=5).json()["status"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "wrong-key"}])
def test_rest_requires_a_valid_key(server, headers):
    r = requests.get(f"{server.base_url}/v2/transcript", headers=headers, timeout=5)
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication error, API token missing/invalid"}


def test_bearer_form_is_accepted(server):
    r = requests.get(f"{server.base_url}/v2/transcript", headers={"Authorization": f"Bearer {server.api_key}"},
                     timeout=5)
    assert r.status_code == 200 and "page_details" in r.json()


def test_empty_upload_is_rejected(server, api):
    r = requests.post(f"{server.base_url}/v2/upload", data=b"", headers=api.headers, timeout=5)
    assert r.status_code == 400 and "empty" in r.json()["error"]


def test_upload_without_content_type_returns_local_url(server, api, samples_dir):
    url = api.upload(samples_dir / "_errors" / "silence.wav")
    assert url.startswith(server.base_url + "/upload/")
    fetched = requests.get(url, headers=api.headers, timeout=5)
    assert fetched.content == (samples_dir / "_errors" / "silence.wav").read_bytes()


@pytest.mark.parametrize("body, message", [
    ({"audio_url": "https://example.com/a.wav", "speech_models": ["universal-2"], "colour": "blue"},
     "unknown field(s): colour"),
    ({"audio_url": "https://example.com/a.wav"}, "speech_models is required"),
    ({"audio_url": "https://example.com/a.wav", "speech_models": ["universal-2"], "prompt": "p",
      "keyterms_prompt": ["x"]}, "prompt and keyterms_prompt cannot be used together"),
    ({"audio_url": "https://example.com/a.wav", "speech_models": ["universal-2"], "format_text": "yes"},
     "format_text must be a Boolean"),
    ({"audio_url": "https://example.com/a.wav", "speech_models": ["whisper-9000"]}, "Invalid speech_models"),
    ({"speech_models": ["universal-2"]}, "audio_url is required"),
])
def test_invalid_transcript_requests_get_400(api, body, message):
    r = api.submit(body)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_unknown_transcript_id(server, api, admin):
    r = requests.get(f"{server.base_url}/v2/transcript/00000000-0000-0000-0000-000000000000", headers=api.headers,
                     timeout=5)
    assert r.status_code == 400 and r.json() == {"error": "Transcript lookup error, transcript id not found"}
    assert admin.update_config({"unknown_transcript_status": 404}).status_code == 200
    try:
        r = requests.get(f"{server.base_url}/v2/transcript/nope/vtt", headers=api.headers, timeout=5)
        assert r.status_code == 404 and r.json() == {"error": "Not found"}
    finally:
        admin.update_config({"unknown_transcript_status": 400})


def test_not_audio_ends_in_error_status(api, samples_dir):
    t = api.transcribe(samples_dir / "_errors" / "not_audio.txt")
    assert t["status"] == "error"
    assert t["error"] == "File does not appear to contain audio. File type is text/plain (ASCII text)."
    assert t["text"] is None and t["words"] is None


def test_too_short_audio_ends_in_error_status(api, samples_dir):
    t = api.transcribe(samples_dir / "_errors" / "too_short.wav")
    assert t["status"] == "error" and t["error"] == "Audio duration is too short."


def test_silence_completes_with_empty_text(api, samples_dir):
    t = api.transcribe(samples_dir / "_errors" / "silence.wav")
    assert t["status"] == "completed" and t["text"] == "" and t["words"] == [] and t["audio_duration"] == 2


def test_audio_url_from_another_local_http_server(api, samples_dir):
    """e.g. a presigned URL of a local S3: any reachable http(s) URL works."""
    audio = (samples_dir / "fabrikam_billing_question" / "mono.wav").read_bytes()
    host = RecordingHttpDouble(lambda d, h, b: (200, {"Content-Type": "audio/wav"}, audio)
                               if h.path.startswith("/bucket/") else (404, {}, b"no"))
    try:
        r = api.submit({"audio_url": f"{host.url}/bucket/call.wav?X-Amz-Signature=abc",
                        "speech_models": ["universal-2"], "punctuate": False, "format_text": False})
        t, _ = api.wait(r.json()["id"])
        assert t["status"] == "completed" and "photo" in t["text"] and "linda" in t["text"]
        assert t["text"] == t["text"].lower() and "." not in t["text"]  # punctuate/format_text false
        missing = api.submit({"audio_url": f"{host.url}/missing.wav", "speech_models": ["universal-2"]})
        t, _ = api.wait(missing.json()["id"])
        assert t["status"] == "error" and t["error"].startswith("Download error, unable to download")
    finally:
        host.stop()


def test_lifecycle_throttling_and_webhooks(tmp_path, stt_cache, samples_dir):
    """A server with one worker and slow states: queued -> processing -> completed is observable, excess
    jobs are throttled, webhooks retry 5xx, stop on 4xx and carry the auth header."""
    codes = {"/hook-flaky": [500, 200], "/hook-reject": [410]}

    def respond(double, handler, body):
        seq = codes.get(handler.path.split("?")[0], [200])
        served = sum(1 for r in double.requests if r["path"] == handler.path) - 1
        return seq[min(served, len(seq) - 1)], {}, b"ok"

    hook = RecordingHttpDouble(respond)
    srv = start_aai_server(tmp_path, {"cache_dir": str(stt_cache), "concurrency": 1,
                                      "jobs": {"min_queued_seconds": 0.3, "min_processing_seconds": 0.5},
                                      "webhook": {"max_attempts": 3, "retry_interval_seconds": 0.1}})
    try:
        api = Api(srv.base_url, srv.api_key)
        url = api.upload(samples_dir / "fabrikam_billing_question" / "mono.wav")
        first = api.submit({"audio_url": url, "speech_models": ["universal-2"],
                            "webhook_url": f"{hook.url}/hook-flaky?call=1", "webhook_auth_header_name": "X-Secret",
                            "webhook_auth_header_value": "s3cr3t"}).json()
        second = api.submit({"audio_url": url, "speech_models": ["universal-2"],
                             "webhook_url": f"{hook.url}/hook-reject"}).json()
        assert first["status"] == "queued" and first["speech_model"] is None and first["webhook_auth"] is True
        assert second["throttled"] is True
        _t1, seen = api.wait(first["id"])
        assert seen == ["queued", "processing", "completed"]
        t2, _ = api.wait(second["id"])
        assert t2["status"] == "completed"
        wait_for(lambda: api.get(first["id"])["webhook_status_code"] == 200)
        wait_for(lambda: api.get(second["id"])["webhook_status_code"] == 410)
        flaky = [r for r in hook.requests if r["path"].startswith("/hook-flaky")]
        assert len(flaky) == 2 and flaky[0]["headers"]["X-Secret"] == "s3cr3t"
        assert json.loads(flaky[0]["body"]) == {"transcript_id": first["id"], "status": "completed"}
        assert flaky[0]["path"] == "/hook-flaky?call=1"
        assert len([r for r in hook.requests if r["path"] == "/hook-reject"]) == 1  # 4xx: no retry
        page = requests.get(f"{srv.base_url}/v2/transcript?limit=1", headers=api.headers, timeout=5).json()
        assert page["page_details"]["result_count"] == 1 and page["transcripts"][0]["id"] == second["id"]
        older = requests.get(page["page_details"]["prev_url"], headers=api.headers, timeout=5).json()
        assert older["transcripts"][0]["id"] == first["id"]
    finally:
        srv.stop()
        hook.stop()


def test_transcripts_survive_a_restart(tmp_path, stt_cache, samples_dir):
    srv = start_aai_server(tmp_path, {"cache_dir": str(stt_cache)})
    try:
        api = Api(srv.base_url, srv.api_key)
        t = api.transcribe(samples_dir / "_errors" / "silence.wav")
    finally:
        srv.stop()
    srv = start_aai_server(tmp_path, {"cache_dir": str(stt_cache)})
    try:
        again = Api(srv.base_url, srv.api_key).get(t["id"])
        assert again["status"] == "completed" and again["id"] == t["id"]
    finally:
        srv.stop()
