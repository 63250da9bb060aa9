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


# ---- Retry-After cap for every retryable status ----------------------------------------------------------------
def test_503_with_a_long_retry_after_is_left_to_the_state_machine(server):
    # GIVEN a 503 asking for 15 minutes (the Lambda has 30 s)
    server.script = [(503, {"Retry-After": "900"}, {"error": "Service Unavailable"})]
    sleeps = SleepRecorder()
    # WHEN polling
    with pytest.raises(TransientError, match="HTTP 503.*Retry-After 900s") as info:
        make_client(server.url, sleeps, max_retry_after=20).get_transcript("t-1")
    # THEN no sleep in the Lambda: the retryable error carries the wait for the state machine
    assert info.value.retry_after == 900 and info.value.status_code == 503
    assert sleeps.calls == [] and len(server.requests) == 1


def test_503_with_a_short_retry_after_is_honoured(server):
    server.script = [(503, {"Retry-After": "2"}, {"error": "Service Unavailable"}),
                     (200, {}, {"id": "t-1", "status": "processing"})]
    sleeps = SleepRecorder()
    assert make_client(server.url, sleeps, max_retry_after=20).get_transcript("t-1")["status"] == "processing"
    assert sleeps.calls == [pytest.approx(2.4)]  # Retry-After 2 s + 20 % jitter
    assert len(server.requests) == 2


# ---- POST /v2/transcript is not retried blindly ------------------------------------------------------------------
AUDIO_URL = "https://bucket.s3.amazonaws.com/recordings/a.wav?X-Amz-Signature=abc"


def _created(offset_seconds: float = 0.0) -> str:
    """`created` as AssemblyAI sends it: naive ISO 8601 in UTC."""
    import datetime as dt

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return when.replace(tzinfo=None).isoformat()


def _slow(seconds: float, payload):
    def answer():
        time.sleep(seconds)
        return payload
    return answer


def _posts(server) -> list[dict]:
    return [r for r in server.requests if r["method"] == "POST"]


def test_submit_read_timeout_adopts_the_job_the_first_post_created(server):
    # GIVEN AssemblyAI accepts the job but answers too late; the list then shows it
    server.script = [
        (200, {}, _slow(0.5, {"id": "t-late", "status": "queued"})),
        (200, {}, lambda: {"transcripts": [
            {"id": "t-other", "audio_url": "https://elsewhere/b.wav", "status": "queued", "created": _created()},
            {"id": "t-late", "audio_url": AUDIO_URL, "status": "queued", "created": _created()},
        ]}),
    ]
    # WHEN submitting
    transcript = make_client(server.url, SleepRecorder(), read_timeout=0.1).submit_transcript(
        {"audio_url": AUDIO_URL})
    # THEN one POST only (one billed job), and that job is adopted
    assert transcript["id"] == "t-late"
    assert len(_posts(server)) == 1
    lookup = server.requests[1]
    assert lookup["method"] == "GET" and lookup["path"] == "/v2/transcript?limit=100"


def test_submit_read_timeout_without_the_job_in_the_list_is_transient_and_not_reposted(server):
    # GIVEN the POST times out and the list has no job for this audio_url since the first attempt
    server.script = [
        (200, {}, _slow(0.5, {"id": "t-late", "status": "queued"})),
        (200, {}, lambda: {"transcripts": [
            {"id": "t-old", "audio_url": AUDIO_URL, "status": "completed", "created": _created(-3600)},
            {"id": "t-other", "audio_url": "https://elsewhere/b.wav", "status": "queued", "created": _created()},
        ]}),
    ]
    # WHEN submitting
    with pytest.raises(TransientError, match="outcome unknown"):
        make_client(server.url, SleepRecorder(), read_timeout=0.1).submit_transcript({"audio_url": AUDIO_URL})
    # THEN exactly one POST: the state machine retries the submission, the Lambda never POSTs twice
    assert len(_posts(server)) == 1


def test_submit_empty_list_is_transient_with_exactly_one_post(server):
    server.script = [(200, {}, _slow(0.5, {"id": "t-late"})), (200, {}, {"transcripts": []})]
    with pytest.raises(TransientError, match="outcome unknown"):
        make_client(server.url, SleepRecorder(), read_timeout=0.1).submit_transcript({"audio_url": AUDIO_URL})
    assert len(_posts(server)) == 1


def test_submit_5xx_looks_for_the_job_instead_of_posting_again(server):
    server.script = [(502, {}, "bad gateway"),
                     (200, {}, lambda: {"transcripts": [{"id": "t-2", "audio_url": AUDIO_URL, "status": "queued",
                                                         "created": _created()}]})]
    assert make_client(server.url, SleepRecorder()).submit_transcript({"audio_url": AUDIO_URL})["id"] == "t-2"
    assert len(_posts(server)) == 1


def test_submit_connection_closed_after_sending_is_not_reposted(server):
    def hang_up():
        raise ConnectionResetError("server went away")  # the handler dies: no response, connection closed

    server.script = [(200, {}, hang_up), (200, {}, {"transcripts": []})]
    with pytest.raises(TransientError, match="outcome unknown"):
        make_client(server.url, SleepRecorder()).submit_transcript({"audio_url": AUDIO_URL})
    assert len(_posts(server)) == 1


def test_submit_429_is_retried_because_nothing_was_created(server):
    server.script = [(429, {"Retry-After": "1"}, {"error": "Too Many Requests"}),
                     (200, {}, {"id": "t-3", "status": "queued"})]
    sleeps = SleepRecorder()
    assert make_client(server.url, sleeps).submit_transcript({"audio_url": AUDIO_URL})["id"] == "t-3"
    assert len(_posts(server)) == 2 and sleeps.calls == [pytest.approx(1.2)]


def test_submit_connection_refused_is_retried_because_nothing_was_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = SleepRecorder()
    with pytest.raises(TransientError, match="could not connect after 3 attempts"):
        make_client(f"http://127.0.0.1:{port}", sleeps, max_attempts=3).submit_transcript({"audio_url": AUDIO_URL})
    assert len(sleeps.calls) == 2


# ---- the invocation deadline ------------------------------------------------------------------------------------
class FakeClock:
    """Seconds left before the deadline; sleeping spends them."""

    def __init__(self, left: float):
        self.left = left
        self.sleeps: list[float] = []

    def deadline(self) -> float:
        return self.left

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.left -= seconds


def test_deadline_already_near_makes_no_request(server):
    clock = FakeClock(0.5)
    client = make_client(server.url, SleepRecorder(), deadline=clock.deadline)
    with pytest.raises(TransientError, match="deadline"):
        client.get_transcript("t-1")
    assert server.requests == []


def test_no_backoff_sleep_runs_past_the_deadline(server):
    # GIVEN 5xx answers, 3 s left, backoff 1 s then 2 s
    server.script = [(503, {}, "unavailable")] * 4
    clock = FakeClock(3.0)
    client = AssemblyAIClient("k", api_base_url=server.url, sleep=clock.sleep, jitter=lambda: 1.0,
                              backoff_base=1.0, deadline=clock.deadline)
    # WHEN polling
    with pytest.raises(TransientError, match="HTTP 503.*deadline") as info:
        client.get_transcript("t-1")
    # THEN it slept 1 s (2 s left), then gave up instead of sleeping 2 s: the state machine retries
    assert clock.sleeps == [1.0] and len(server.requests) == 2
    assert info.value.status_code == 503


def test_retry_after_past_the_deadline_raises_throttled(server):
    server.script = [(429, {"Retry-After": "10"}, {"error": "Too Many Requests"})]
    clock = FakeClock(8.0)
    client = make_client(server.url, SleepRecorder(), max_retry_after=20, deadline=clock.deadline)
    with pytest.raises(ThrottledError, match="deadline") as info:
        client.get_transcript("t-1")
    assert info.value.retry_after == 10 and len(server.requests) == 1


def test_attempt_timeouts_shrink_to_the_deadline():
    left = [12.0]
    client = AssemblyAIClient("k", connect_timeout=5, read_timeout=30, deadline=lambda: left[0])
    assert client._attempt_timeout("x", 30) == (5, 7)
    left[0] = 4.0
    assert client._attempt_timeout("x", 30) == (2, 2)
    assert AssemblyAIClient("k", connect_timeout=5, read_timeout=30)._attempt_timeout("x", 30) == (5, 30)


def test_a_slow_read_stops_at_the_deadline_not_at_the_read_timeout(server):
    # GIVEN 1.5 s left and a server that needs 3 s (read timeout 30 s)
    server.script = [(200, {}, _slow(3, {"id": "t-1"}))] * 2
    end = time.monotonic() + 1.5
    client = make_client(server.url, SleepRecorder(), read_timeout=30,
                         deadline=lambda: end - time.monotonic())
    timeouts = []
    send = client.session.request
    client.session.request = lambda *a, **kw: timeouts.append(kw["timeout"]) or send(*a, **kw)
    with pytest.raises(TransientError, match="deadline"):
        client.get_transcript("t-1")
    # THEN the attempt's socket timeouts were cut to the time left (it timed out on them, not on 30 s),
    # and no second attempt was made
    [(connect, read)] = timeouts
    assert connect + read <= 1.5 and read < 3
    assert len(server.requests) == 1


def test_submit_with_no_time_left_for_the_lookup_is_transient_with_one_post(server):
    server.script = [(500, {}, {"error": "Internal Server Error"})]
    clock = FakeClock(1.2)
    client = make_client(server.url, SleepRecorder(), deadline=clock.deadline)
    with pytest.raises(TransientError, match="outcome unknown.*deadline"):
        client.submit_transcript({"audio_url": AUDIO_URL})
    assert len(server.requests) == 1


def test_wiring_binds_the_lambda_deadline_to_the_shared_client():
    from call_analytics import wiring

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    deadline = wiring.lambda_deadline(Context())
    assert deadline() == pytest.approx(30 - wiring.LAMBDA_DEADLINE_MARGIN_SECONDS)
    assert wiring.lambda_deadline(None) is None
    try:
        shared = wiring.assemblyai_client("arn:secret", "http://127.0.0.1:9", None)
        bound = wiring.assemblyai_client("arn:secret", "http://127.0.0.1:9", None, deadline=deadline)
        assert shared.deadline is None and bound.deadline is deadline
        assert bound.session is shared.session  # one pooled Session per container
    finally:
        wiring.reset()
