"""Unit-level tests of the edge client (no sockets): close-code classifier, message parsing and
dispatch, backoff, resampler, backlog, outbox ordering/dedup, settings precedence, key masking."""

from __future__ import annotations

import json
import logging
import random
import time
import wave

import numpy as np
import pytest

from edge_client.audio import Reframer, StreamingResampler, WavFileSource, WavRecorder
from edge_client.backoff import Backoff, full_jitter
from edge_client.client import FrameBacklog, purge_old_recordings
from edge_client.closecodes import Action, classify
from edge_client.keys import SecretMaskFilter, mask
from edge_client.messages import (
    Begin,
    Dispatcher,
    LLMGatewayResponse,
    MessageParseError,
    ServerError,
    Termination,
    Turn,
    Unknown,
    parse_message,
)
from edge_client.outbox import (
    Outbox,
    OutboxRow,
    SnsPublisher,
    is_retryable,
    publish_args,
)
from edge_client.settings import Settings, SettingsError, load_settings

# ------------------------------------------------------------------------------------------------ close codes


@pytest.mark.parametrize("code", [1008, 4001, 4002, 4003])
def test_auth_closes_are_fatal_auth_errors(code):
    out = classify(code, "Unauthorized Connection: Invalid API key")
    assert out.action is Action.FATAL and out.auth
    assert "API key" in out.message and str(code) in out.message


@pytest.mark.parametrize("status,auth", [(401, True), (403, True), (400, False), (404, False)])
def test_rejected_handshakes_are_fatal(status, auth):
    out = classify(None, None, http_status=status)
    assert out.action is Action.FATAL and out.auth is auth and f"HTTP {status}" in out.message


@pytest.mark.parametrize("code", [3006, 4101, 1002, 1007])
def test_bad_request_closes_are_fatal_without_auth(code):
    out = classify(code, "x")
    assert out.action is Action.FATAL and not out.auth


def test_3007_chunk_violation_is_fatal_but_rate_exceeded_reconnects():
    assert classify(3007, "Input duration violation: 20 ms").action is Action.FATAL
    assert classify(3007, "Audio Transmission Rate Exceeded: Received 5 sec. audio in 2 sec").action is Action.RETRY


@pytest.mark.parametrize("code", [None, 1006, 1011, 1013, 3005, 3009, 1001, 4999 + 1])
def test_transient_closes_retry_with_backoff(code):
    assert classify(code, None).action is Action.RETRY


def test_session_expired_reconnects_at_once_and_termination_is_done():
    assert classify(3008, "Session Expired").action is Action.RETRY_NOW
    assert classify(1000, None, termination=True).action is Action.DONE
    # a normal close without Termination means the server ended the session: new session
    assert classify(1000, None).action is Action.RETRY
    # close code missing but the Error message said why
    assert classify(None, None, error_code=1008).action is Action.FATAL
    assert classify(None, None, http_status=503).action is Action.RETRY


# ------------------------------------------------------------------------------------------------ messages


def test_parse_all_message_types():
    assert parse_message('{"type":"Begin","id":"s1","expires_at":1}') == Begin("s1", 1)
    t = parse_message(json.dumps({"type": "Turn", "turn_order": 2, "end_of_turn": True, "turn_is_formatted": True,
                                  "transcript": "Hi.", "end_of_turn_confidence": 0.5, "words": [], "extra": 1}))
    assert isinstance(t, Turn) and t.turn_order == 2 and t.end_of_turn and t.transcript == "Hi."
    llm = parse_message(json.dumps({"type": "LLMGatewayResponse", "turn_order": 2, "transcript": "Hi.",
                                    "data": {"model": "m", "choices": [{"message": {"content": "Greeting"}}]}}))
    assert isinstance(llm, LLMGatewayResponse) and llm.content == "Greeting" and llm.model == "m"
    assert LLMGatewayResponse(1, "", {"choices": []}).content == ""
    assert parse_message('{"type":"Termination","audio_duration_seconds":3,"session_duration_seconds":4}') == \
        Termination(3, 4)
    assert parse_message('{"type":"Error","error_code":3008,"error":"expired"}') == ServerError("expired", 3008)
    assert parse_message('{"error":"bad"}') == ServerError("bad", None)
    assert isinstance(parse_message('{"type":"Heartbeat","x":1}'), Unknown)
    with pytest.raises(MessageParseError):
        parse_message("not json")
    with pytest.raises(MessageParseError):
        parse_message('{"type":"Turn"}')


def test_dispatch_ignores_unknown_and_survives_failing_handlers(caplog):
    d = Dispatcher()
    seen = []

    def boom(m):
        raise RuntimeError("printer on fire")

    d.on(Turn, boom)
    d.on(Turn, seen.append)
    d.on(Begin, seen.append)
    with caplog.at_level(logging.ERROR):
        d.dispatch_raw('{"type":"Turn","turn_order":0,"end_of_turn":false,"turn_is_formatted":false,"transcript":"a"}')
    d.dispatch_raw('{"type":"SpeakerRevision","revisions":[]}')
    d.dispatch_raw("{broken")
    d.dispatch_raw('{"type":"Begin","id":"x"}')
    assert [type(m) for m in seen] == [Turn, Begin]  # the second handler still ran
    assert d.handler_errors == 1 and d.ignored == 1 and d.parse_errors == 1
    assert "printer on fire" in caplog.text


# ------------------------------------------------------------------------------------------------ backoff


def test_backoff_grows_caps_jitters_and_resets():
    b = Backoff(base=0.5, cap=4.0, max_attempts=6, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [0.5, 1, 2, 4, 4, 4]
    for d, c in zip(delays, ceilings, strict=True):
        assert c / 2 <= d <= c
    assert b.exhausted
    b.reset()
    assert not b.exhausted and b.next_delay() <= 0.5


def test_full_jitter_bounds():
    rng = random.Random(2)
    values = [full_jitter(a, 0.5, 60, rng) for a in range(40)]
    assert all(0 <= v <= min(60, 0.5 * 2**a) for a, v in enumerate(values))
    assert max(values) <= 60


# ------------------------------------------------------------------------------------------------ audio


def _tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 12000).astype("<i2").tobytes()


@pytest.mark.parametrize("in_rate", [44100, 48000, 8000])
def test_resampler_keeps_length_and_pitch_across_chunks(in_rate):
    pcm = _tone(in_rate, 2.0)
    r = StreamingResampler(in_rate, 16000)
    chunk = in_rate // 20 * 2 + 6  # odd chunking: boundaries must not matter
    out = b"".join(r.process(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk))
    y = np.frombuffer(out, "<i2").astype(float)
    assert abs(len(y) - 32000) <= 2  # 2 s at 16 kHz, no drift
    spectrum = np.abs(np.fft.rfft(y[2000:] * np.hanning(len(y) - 2000)))
    peak_hz = np.argmax(spectrum) * 16000 / (len(y) - 2000)
    assert abs(peak_hz - 440) < 5
    # seamless: no clicks at chunk boundaries (max step of a 440 Hz tone at 16 kHz is ~2100)
    assert np.max(np.abs(np.diff(y[200:]))) < 2500


def test_resampler_removes_content_above_the_new_nyquist():
    pcm = _tone(48000, 1.0, freq=12000)  # would alias to 4 kHz without the low-pass
    y = np.frombuffer(StreamingResampler(48000, 16000).process(pcm), "<i2").astype(float)
    assert np.sqrt(np.mean(y[200:] ** 2)) < 12000 / np.sqrt(2) * 0.05


def test_reframer_and_padding():
    r = Reframer(1600)
    assert r.push(b"\x01" * 1000) == []
    frames = r.push(b"\x01" * 2500)
    assert [len(f) for f in frames] == [1600, 1600]
    last = r.flush_padded()
    assert len(last) == 1600 and last.endswith(b"\x00" * (1600 - 300))
    assert r.flush_padded() is None


def test_wav_source_pads_last_frame_and_paces(tmp_path):
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x02\x00" * (800 * 5 + 100))
    frames = list(WavFileSource(path, speed=0).frames())
    assert len(frames) == 6 and all(len(f) == 1600 for f in frames)
    assert frames[-1][200:] == b"\x00" * 1400


def test_wav_recorder_header_is_valid_after_every_write(tmp_path):
    rec = WavRecorder(tmp_path / "r.wav", 16000)
    for i in range(3):
        rec.write(b"\x05\x00" * 800)
        with wave.open(str(tmp_path / "r.wav"), "rb") as w:  # read while still open for writing
            assert w.getnframes() == 800 * (i + 1)
    rec.close()
    assert (tmp_path / "r.wav").stat().st_mode & 0o777 == 0o600


def test_backlog_is_bounded_and_counts_drops():
    b = FrameBacklog(max_frames=3)
    for i in range(5):
        b.put(bytes([i]))
    assert len(b) == 3 and b.dropped == 2 and b.peek(0) == bytes([2])
    b.pop()
    b.close()
    assert not b.finished
    b.pop(), b.pop()
    assert b.finished and b.peek(0.01) is None


# ------------------------------------------------------------------------------------------------ outbox


def test_outbox_dedups_and_keeps_order(tmp_path):
    ob = Outbox(tmp_path / "o.db")
    for i in (0, 1, 2):
        assert ob.enqueue(f"c:s:{i}", "arn:aws:sns:us-east-1:1:t", {"i": i}, {"call_id": "c"})
    assert not ob.enqueue("c:s:1", "arn:aws:sns:us-east-1:1:t", {"i": 99}, {"call_id": "c"})
    assert [json.loads(r.body)["i"] for r in ob.head()] == [0, 1, 2]
    ob.close()
    again = Outbox(tmp_path / "o.db")  # survives a restart
    assert again.counts() == {"pending": 3, "dead": 0}


class FakeSnsClient:
    """Test double for the boto3 SNS client: fails according to a script, records what it accepted."""

    def __init__(self, script):
        self.script = list(script)
        self.accepted = []

    def publish(self, **kw):
        action = self.script.pop(0) if self.script else "ok"
        if isinstance(action, Exception):
            raise action
        self.accepted.append(kw)
        return {"MessageId": str(len(self.accepted))}


def _client_error(code, status):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "Publish")


def test_publisher_head_of_line_retry_park_and_order(tmp_path):
    from botocore.exceptions import EndpointConnectionError

    ob = Outbox(tmp_path / "o.db")
    for i in range(4):
        ob.enqueue(f"c:s:{i}", "arn:aws:sns:us-east-1:1:t", {"i": i}, {"call_id": "c"})
    fake = FakeSnsClient([EndpointConnectionError(endpoint_url="http://x"), "ok",
                          _client_error("InvalidParameter", 400), "ok", "ok"])
    pub = SnsPublisher(ob, lambda: fake, backoff_base=0.01, backoff_cap=0.02)
    wait = pub.publish_ready()  # first try fails: nothing behind it may overtake
    assert wait is not None and fake.accepted == [] and ob.counts()["pending"] == 4
    deadline = time.monotonic() + 5
    while ob.counts()["pending"] and time.monotonic() < deadline:
        time.sleep(0.03)
        pub.publish_ready()
    assert [json.loads(a["Message"])["i"] for a in fake.accepted] == [0, 2, 3]  # 1 was parked
    assert ob.counts() == {"pending": 0, "dead": 1}
    assert ob.dead_rows()[0][0] == "c:s:1" and "InvalidParameter" in ob.dead_rows()[0][1]
    assert pub.stats.parked == 1 and pub.stats.published == 3


def test_retryable_classification():
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    assert is_retryable(EndpointConnectionError(endpoint_url="x"))
    assert is_retryable(ConnectTimeoutError(endpoint_url="x"))
    assert is_retryable(ReadTimeoutError(endpoint_url="x"))
    assert is_retryable(_client_error("Throttling", 400))
    assert is_retryable(_client_error("InternalError", 500))
    assert not is_retryable(_client_error("NotFound", 404))
    assert not is_retryable(_client_error("AuthorizationError", 403))


def test_publish_args_standard_and_fifo():
    row = OutboxRow(1, "c1:s1:3", "arn:aws:sns:us-east-1:1:t", "{}", {"call_id": "c1", "empty": ""}, "c1", 0, 0, 0)
    a = publish_args(row)
    assert a["MessageAttributes"]["dedup_key"]["StringValue"] == "c1:s1:3"
    assert "empty" not in a["MessageAttributes"] and "MessageGroupId" not in a
    fifo = publish_args(OutboxRow(1, "k" * 200, "arn:aws:sns:us-east-1:1:t.fifo", "{}", {}, "c1", 0, 0, 0))
    assert fifo["MessageGroupId"] == "c1" and len(fifo["MessageDeduplicationId"]) <= 128


# ------------------------------------------------------------------------------------------------ settings, keys


def test_settings_precedence_cli_env_file_defaults(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('model = "from-file"\nmax_tokens = 111\nspeech_model = "file-sm"\nagent_id = "pc-file"\n')
    env = {"EDGE_CLIENT_MAX_TOKENS": "222", "EDGE_CLIENT_SPEECH_MODEL": "env-sm"}
    s = load_settings({"speech_model": "cli-sm", "data_dir": str(tmp_path)}, env=env, config_file=str(cfg))
    assert (s.model, s.max_tokens, s.speech_model, s.agent_id) == ("from-file", 222, "cli-sm", "pc-file")
    assert s.sample_rate == 16000  # default
    j = tmp_path / "edge.json"
    j.write_text(json.dumps({"edge_client": {"api_url": "eu", "format_turns": False}}))
    s2 = load_settings({"data_dir": str(tmp_path)}, env={"EDGE_CLIENT_CONFIG": str(j)})
    assert s2.streaming_url == "wss://streaming.eu.assemblyai.com/v3/ws" and s2.format_turns is False
    assert load_settings({"api_url": "ws://127.0.0.1:9/v3/ws"}, env={}).streaming_url == "ws://127.0.0.1:9/v3/ws"


def test_settings_validation_lists_every_problem(tmp_path):
    with pytest.raises(SettingsError) as e:
        load_settings({"prompt": "no tag", "max_tokens": 0, "api_url": "http://x", "topic_arn": "topic"}, env={})
    msg = str(e.value)
    for part in ("{{turn}}", "max_tokens", "api_url", "topic_arn"):
        assert part in msg
    with pytest.raises(SettingsError, match="EDGE_CLIENT_MAX_TOKENS"):
        load_settings({}, env={"EDGE_CLIENT_MAX_TOKENS": "lots"})
    bad = tmp_path / "bad.toml"
    bad.write_text("modle = 'x'\n")
    with pytest.raises(SettingsError, match="unknown settings"):
        load_settings({}, env={}, config_file=str(bad))


def test_api_key_is_masked_in_logs(caplog):
    key = "sk-live-0123456789abcdef"
    logger = logging.getLogger("edge-test-mask")
    handler = logging.StreamHandler()
    handler.addFilter(SecretMaskFilter(key))
    record = logger.makeRecord("x", logging.INFO, __file__, 1, "header Authorization: %s", (key,), None)
    handler.filter(record)
    assert key not in record.getMessage() and "****cdef" in record.getMessage()
    assert mask("short") == "****" and key not in mask(key)
    assert key not in repr(Settings(data_dir="/tmp"))  # the key is never a setting


def test_retention_only_deletes_uploaded_old_recordings(tmp_path):
    for name, uploaded in (("old-up", "s3://b/k"), ("old-local", None)):
        (tmp_path / f"{name}.wav").write_bytes(b"RIFF")
        (tmp_path / f"{name}.json").write_text(json.dumps({"recording": f"{name}.wav", "uploaded": uploaded}))
    assert purge_old_recordings(tmp_path, 30, now=time.time() + 31 * 86400) == 1
    assert not (tmp_path / "old-up.wav").exists() and (tmp_path / "old-local.wav").exists()
