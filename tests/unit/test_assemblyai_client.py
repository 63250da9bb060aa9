"""AssemblyAIClient against a scripted HTTP server on 127.0.0.1 (retries, backoff, error mapping)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from call_analytics.adapters.assemblyai import (
    AssemblyAIClient,
    api_error_text,
    parse_retry_after,
)
from call_analytics.errors import PermanentError, ThrottledError, TransientError


class ScriptedApiServerDouble:
    """A tiny HTTP server on 127.0.0.1 answering from a script of (status, headers, body | callable)."""

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = _read_chunked(self.rfile)
                double.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                status, headers, payload = double.script.pop(0) if double.script else (200, {}, {"ok": True})
                if callable(payload):
                    payload = payload()
                data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
                data = data.encode() if isinstance(data, str) else data
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that timed out: not our concern
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _read_chunked(stream) -> bytes:
    out = b""
    while True:
        size = int(stream.readline().strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return out
        out += stream.read(size)
        stream.readline()


@pytest.fixture
def server():
    double = ScriptedApiServerDouble()
    yield double
    double.stop()


class SleepRecorder:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(url: str, sleeps: SleepRecorder, **kwargs) -> AssemblyAIClient:
    return AssemblyAIClient("secret-key", api_base_url=url, llm_base_url=url + "/v1", sleep=sleeps,
                            jitter=lambda: 1.0, **kwargs)


def test_sends_raw_key_and_returns_transcript(server):
    # GIVEN the API accepts the submission
    server.script = [(200, {}, {"id": "t-1", "status": "queued"})]
    client = make_client(server.url, SleepRecorder())
    # WHEN submitting
    transcript = client.submit_transcript({"audio_url": "https://x/a.wav", "speech_models": ["universal-2"]})
    # THEN the raw key is the Authorization header (no Bearer) and the body is the params
    assert transcript["id"] == "t-1"
    request = server.requests[0]
    assert request["headers"]["Authorization"] == "secret-key"
    assert request["path"] == "/v2/transcript"
    assert json.loads(request["body"])["speech_models"] == ["universal-2"]


def test_429_honours_retry_after_then_succeeds(server):
    server.script = [(429, {"Retry-After": "3"}, {"error": "Too Many Requests"}),
                     (200, {}, {"id": "t-1", "status": "processing"})]
    sleeps = SleepRecorder()
    transcript = make_client(server.url, sleeps).get_transcript("t-1")
    assert transcript["status"] == "processing"
    assert sleeps.calls == [pytest.approx(3.6)]  # Retry-After 3 s + 20 % jitter (jitter fixed at 1.0)
    assert len(server.requests) == 2


def test_5xx_then_success_uses_exponential_backoff(server):
    server.script = [(503, {}, "upstream unavailable"), (500, {}, {"error": "Internal Server Error"}),
                     (200, {}, {"id": "t-1", "status": "completed"})]
    sleeps = SleepRecorder()
    assert make_client(server.url, sleeps, backoff_base=0.5).get_transcript("t-1")["status"] == "completed"
    assert sleeps.calls == [0.5, 1.0]  # base * 2^(attempt-1), jitter fixed at 1.0


def test_backoff_uses_full_jitter_and_cap():
    client = AssemblyAIClient("k", backoff_base=1, backoff_cap=4, jitter=lambda: 0.25)
    assert [client._backoff(n) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_429_exhaustion_raises_throttled_with_api_text(server):
    server.script = [(429, {}, {"error": "Too Many Requests"})] * 3
    with pytest.raises(ThrottledError, match="Too Many Requests") as info:
        make_client(server.url, SleepRecorder(), max_attempts=3).get_transcript("t-1")
    assert info.value.status_code == 429
    assert len(server.requests) == 3


def test_long_retry_after_is_left_to_the_state_machine(server):
    server.script = [(429, {"Retry-After": "120"}, {"error": "Too Many Requests"})]
    sleeps = SleepRecorder()
    with pytest.raises(ThrottledError) as info:
        make_client(server.url, sleeps, max_retry_after=20).get_transcript("t-1")
    assert info.value.retry_after == 120
    assert sleeps.calls == [] and len(server.requests) == 1


def test_5xx_exhaustion_raises_transient(server):
    server.script = [(502, {}, "bad gateway")] * 4
    with pytest.raises(TransientError, match="HTTP 502 after 4 attempts: bad gateway"):
        make_client(server.url, SleepRecorder()).get_transcript("t-1")


def test_400_is_permanent_without_retry_and_carries_the_api_error(server):
    server.script = [(400, {}, {"error": "Transcript lookup error, transcript id not found"})]
    with pytest.raises(PermanentError, match="transcript id not found") as info:
        make_client(server.url, SleepRecorder()).get_transcript("nope")
    assert info.value.status_code == 400
    assert len(server.requests) == 1


def test_401_error_never_contains_the_key(server):
    server.script = [(401, {}, {"error": "Authentication error, API token missing/invalid"})]
    with pytest.raises(PermanentError) as info:
        make_client(server.url, SleepRecorder()).get_vtt("t-1")
    assert "secret-key" not in str(info.value)
    assert "secret-key" not in repr(make_client(server.url, SleepRecorder()))


def test_connection_refused_is_transient_after_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = SleepRecorder()
    with pytest.raises(TransientError, match="could not connect after 3 attempts"):
        make_client(f"http://127.0.0.1:{port}", sleeps, max_attempts=3).get_transcript("t-1")
    assert len(sleeps.calls) == 2


def test_read_timeout_is_transient(server):
    def slow():
        time.sleep(0.5)
        return {"id": "t-1"}

    server.script = [(200, {}, slow), (200, {}, slow)]
    with pytest.raises(TransientError, match="timed out after 2 attempts"):
        make_client(server.url, SleepRecorder(), max_attempts=2, read_timeout=0.1).get_transcript("t-1")


def test_upload_streams_bytes_and_replays_a_seekable_stream_on_retry(server):
    import io

    server.script = [(500, {}, {"error": "Server error"}), (200, {}, {"upload_url": "https://cdn/upload/1"})]
    url = make_client(server.url, SleepRecorder()).upload(io.BytesIO(b"RIFF....WAVE"), size=12)
    assert url == "https://cdn/upload/1"
    assert [r["body"] for r in server.requests] == [b"RIFF....WAVE", b"RIFF....WAVE"]
    assert server.requests[1]["headers"]["Content-Type"] == "application/octet-stream"


def test_upload_with_opener_reopens_the_stream(server):
    import io

    opened = []

    def opener():
        opened.append(1)
        return io.BytesIO(b"audio-bytes")

    server.script = [(503, {}, ""), (200, {}, {"upload_url": "https://cdn/upload/2"})]
    assert make_client(server.url, SleepRecorder()).upload(opener, size=11) == "https://cdn/upload/2"
    assert len(opened) == 2 and server.requests[1]["body"] == b"audio-bytes"


def test_vtt_is_returned_verbatim(server):
    server.script = [(200, {"Content-Type": "text/plain"}, "WEBVTT\n\n00:00.500 --> 00:01.000\nHi\n")]
    assert make_client(server.url, SleepRecorder()).get_vtt("t-1").startswith("WEBVTT")
    assert server.requests[0]["path"] == "/v2/transcript/t-1/vtt"


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"error": {"code": 400, "message": "Invalid request: missing required field 'model'", "metadata": {}}},
         "Invalid request: missing required field 'model'"),
        ({"message": "Bad request", "code": 400, "request_id": "r",
          "metadata": {"errors": ["model x is not supported"]}},
         "Bad request (model x is not supported)"),
        ({"error": "Authentication error, API token missing/invalid", "status": "error", "request_id": "r"},
         "Authentication error, API token missing/invalid"),
    ],
)
def test_chat_completion_maps_all_three_gateway_error_envelopes(server, body, expected):
    server.script = [(400, {}, body)]
    with pytest.raises(PermanentError) as info:
        make_client(server.url, SleepRecorder()).chat_completion({"model": "x", "messages": []})
    assert expected in str(info.value)
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_chat_completion_returns_response(server):
    server.script = [(200, {}, {"choices": [{"index": 0, "message": {"content": "{}"}}], "usage": {}})]
    response = make_client(server.url, SleepRecorder()).chat_completion({"model": "m", "messages": []})
    assert response["choices"][0]["message"]["content"] == "{}"


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("not a date") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_non_json_error_body_is_quoted():
    import requests

    response = requests.Response()
    response.status_code = 503
    response._content = b"<html>Service Unavailable</html>"
    assert api_error_text(response) == "<html>Service Unavailable</html>"
