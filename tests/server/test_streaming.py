"""Streaming v3: the SDK client on a real-time file-fed session, and the documented error closes."""

from __future__ import annotations

import json
import time
import wave

import pytest
import requests
from assemblyai.streaming.v3 import (
    RealTimeEvents,
    RealTimeParameters,
    RealTimeTranscriber,
    RealTimeTranscriberOptions,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from local_assemblyai.streaming import SessionClose, SessionParams

CHUNK = 3200  # 100 ms of 16 kHz PCM16


def pcm(samples_dir, seconds: float) -> bytes:
    with wave.open(str(samples_dir / "fabrikam_billing_question" / "mono.wav")) as w:
        return w.readframes(int(16000 * seconds))


def paced(data: bytes):
    """Chunks of 100 ms, sent in real time."""
    t0 = time.monotonic()
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]
        time.sleep(max(0.0, t0 + (i + CHUNK) / 32000 - time.monotonic()))


def closed_with(ws) -> tuple[list[dict], int, str]:
    """Read until the server closes; return the messages and the close code/reason."""
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=20)))
    except ConnectionClosed as exc:
        return messages, exc.rcvd.code, exc.rcvd.reason


def test_sdk_session_gets_begin_turns_llm_and_termination(server, samples_dir):
    events: list[tuple[str, object]] = []
    errors: list[object] = []
    client = RealTimeTranscriber(RealTimeTranscriberOptions(api_key=server.api_key, api_host=f"ws://127.0.0.1:{server.port}",
                                                            terminate_timeout=30))
    for ev in (RealTimeEvents.Begin, RealTimeEvents.Turn, RealTimeEvents.Termination,
               RealTimeEvents.LLMGatewayResponse):
        client.on(ev, lambda _c, msg, ev=ev: events.append((ev.value, msg)))
    client.on(RealTimeEvents.Error, lambda _c, err: errors.append(err))
    client.connect(RealTimeParameters(
        sample_rate=16000, format_turns=True, speech_model="universal-streaming-english",
        llm_gateway={"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [
            {"role": "user", "content": "Provide a brief summary of the transcript.\n\nTranscript: {{turn}}"}]}))
    client.stream(paced(pcm(samples_dir, 9.0)))
    client.disconnect(terminate=True)
    assert not errors
    kinds = [k for k, _ in events]
    assert kinds[0] == "Begin" and kinds[-1] == "Termination"
    turns = [m for k, m in events if k == "Turn"]
    finals = [t for t in turns if t.end_of_turn and not t.turn_is_formatted]
    formatted = [t for t in turns if t.turn_is_formatted]
    assert any(not t.end_of_turn for t in turns)  # partials before the end of turn
    assert finals and len(formatted) == len(finals)
    assert [t.turn_order for t in finals] == list(range(len(finals)))
    text = " ".join(t.transcript for t in formatted)
    assert "Tom" in text and "Linda" in text and ("?" in text or "." in text)
    assert len(finals) >= 2  # the pause between the two speakers ends a turn
    assert all(w.start <= w.end and isinstance(w.start, int) for t in finals for w in t.words)
    assert all(t.transcript == t.transcript.lower() for t in finals)  # unformatted: lower case
    llm = [m for k, m in events if k == "LLMGatewayResponse"]
    assert {m.turn_order for m in llm} == {t.turn_order for t in finals}
    for m in llm:
        content = m.data["choices"][0]["message"]["content"]
        # the turn summarised in the third person ("The speaker says ..."), not echoed back
        assert content.startswith("The speaker") and content != m.transcript
    term = events[-1][1]
    assert term.audio_duration_seconds == 9 and isinstance(term.session_duration_seconds, int)


def test_bad_key_closes_1008(server):
    with connect(f"{server.ws_url}?sample_rate=16000", additional_headers={"Authorization": "wrong"}) as ws:
        msgs, code, reason = closed_with(ws)
    assert code == 1008 and msgs[0]["type"] == "Error" and msgs[0]["error_code"] == 1008
    assert reason.startswith("Unauthorized Connection")


def test_missing_key_closes_1008(server):
    with connect(f"{server.ws_url}?sample_rate=16000") as ws:
        _msgs, code, reason = closed_with(ws)
    assert code == 1008 and reason == "Unauthorized Connection: Missing Authorization header"


def test_temporary_token_is_single_use(server):
    r = requests.get(f"{server.base_url}/v3/token?expires_in_seconds=60", headers={"Authorization": server.api_key},
                     timeout=5)
    token = r.json()["token"]
    assert r.json()["expires_in_seconds"] == 60
    with connect(f"{server.ws_url}?sample_rate=16000&token={token}") as ws:
        begin = json.loads(ws.recv(timeout=5))
        assert begin["type"] == "Begin" and isinstance(begin["expires_at"], int)
        ws.send(json.dumps({"type": "Terminate"}))
        msgs, code, _ = closed_with(ws)
    assert code == 1000 and msgs[-1] == {"type": "Termination", "audio_duration_seconds": 0,
                                         "session_duration_seconds": msgs[-1]["session_duration_seconds"]}
    with connect(f"{server.ws_url}?sample_rate=16000&token={token}") as ws:
        _, code, reason = closed_with(ws)
    assert code == 1008 and "already been used" in reason
    bad = requests.get(f"{server.base_url}/v3/token?expires_in_seconds=9999", headers={"Authorization": server.api_key},
                       timeout=5)
    assert bad.status_code == 400


def _session(server, query: str = "sample_rate=16000"):
    return connect(f"{server.ws_url}?{query}", additional_headers={"Authorization": server.api_key})


def test_chunk_too_short_closes_3007(server):
    with _session(server) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"
        ws.send(b"\0" * 320)  # 10 ms
        msgs, code, _reason = closed_with(ws)
    assert code == 3007 and msgs[-1]["error"] == "Input duration violation: 10 ms. Expected between 50 and 1000 ms"


def test_audio_faster_than_real_time_closes_3007(server):
    with _session(server) as ws:
        ws.recv(timeout=5)
        try:
            for _ in range(40):  # 4 s of audio at once, beyond the 2 s burst tolerance
                ws.send(b"\0" * CHUNK)
        except ConnectionClosed:
            pass
        _msgs, code, reason = closed_with(ws)
    assert code == 3007 and reason.startswith("Audio Transmission Rate Exceeded")


@pytest.mark.parametrize("frame, expected", [("not json", "Invalid JSON: not json"),
                                             ('{"type": "Dance"}', "Invalid Message Type: Dance")])
def test_bad_text_message_closes_3006(server, frame, expected):
    with _session(server) as ws:
        ws.recv(timeout=5)
        ws.send(frame)
        msgs, code, _reason = closed_with(ws)
    assert code == 3006 and msgs[-1] == {"type": "Error", "error_code": 3006, "error": expected}


def test_injected_close_3005(server, admin, clean_faults):
    admin.set_faults([{"group": "streaming", "action": "ws_close", "close_code": 3005, "after_seconds": 0.3,
                       "next_n": 1}])
    with _session(server) as ws:
        ws.recv(timeout=5)
        msgs, code, reason = closed_with(ws)
    assert code == 3005 and reason == "Session Cancelled: An error occurred" and msgs[-1]["error_code"] == 3005
    with _session(server) as ws:  # next_n=1: the next session is healthy
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"


def test_max_session_duration_closes_3008(server, admin):
    assert admin.update_config({"streaming": {"max_session_seconds": 0.5}}).status_code == 200
    try:
        with _session(server) as ws:
            ws.recv(timeout=5)
            _msgs, code, reason = closed_with(ws)
        assert code == 3008 and reason == "Session Expired: Maximum session duration exceeded"
    finally:
        admin.update_config({"streaming": {"max_session_seconds": 10800}})


def test_concurrent_session_limit_closes_3009(server, admin):
    assert admin.update_config({"streaming": {"max_concurrent_sessions": 1}}).status_code == 200
    try:
        with _session(server) as first:
            first.recv(timeout=5)
            with _session(server) as second:
                _, code, _ = closed_with(second)
            assert code == 3009
    finally:
        admin.update_config({"streaming": {"max_concurrent_sessions": None}})


def test_pings_are_answered_and_keepalive_update_forceendpoint_accepted(server):
    with _session(server, "sample_rate=16000&format_turns=TRUE&keyterms_prompt=%5B%22Fabrikam%22%5D") as ws:
        ws.recv(timeout=5)
        assert ws.ping().wait(timeout=5)
        for frame in ({"type": "KeepAlive"}, {"type": "UpdateConfiguration", "max_turn_silence": 900},
                      {"type": "ForceEndpoint"}, {"type": "Terminate"}):
            ws.send(json.dumps(frame))
        msgs, code, _ = closed_with(ws)
    assert code == 1000 and msgs[-1]["type"] == "Termination"


def test_ping_after_terminate_is_answered_before_termination(server, samples_dir):
    """The server keeps reading while it decodes the last turn and waits for its LLM answer, so a ping
    sent right after Terminate gets its pong before Termination (tests/server/test_streaming_finish.py
    covers this deterministically, with a slow LLM)."""
    llm = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 50,
                      "messages": [{"role": "user", "content": "Summarize: {{turn}}"}]})
    with _session(server, f"sample_rate=16000&llm_gateway={requests.utils.quote(llm)}") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"
        for chunk in paced(pcm(samples_dir, 3.0)):  # speech up to the end: the last turn is still open
            ws.send(chunk)
        ws.send(json.dumps({"type": "Terminate"}))
        pong = ws.ping()
        msgs = []
        try:
            while True:
                msg = json.loads(ws.recv(timeout=30))
                if msg["type"] == "Termination":
                    answered_before_termination = pong.is_set()
                msgs.append(msg)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
    assert code == 1000 and msgs[-1]["type"] == "Termination"
    assert answered_before_termination
    finals = [m for m in msgs if m["type"] == "Turn" and m["end_of_turn"]]
    assert finals and {m["turn_order"] for m in msgs if m["type"] == "LLMGatewayResponse"} == {
        t["turn_order"] for t in finals}


def test_query_parsing_like_the_real_service():
    p = SessionParams.from_query({"sample_rate": "8000", "format_turns": "True", "speaker_labels": "false",
                                  "keyterms_prompt": '["a b", "c"]', "encoding": "pcm_mulaw",
                                  "llm_gateway": '{"model": "m", "messages": [], "max_tokens": 5}',
                                  "min_end_of_turn_silence_when_confident": "300"})
    assert p.format_turns is True and p.speaker_labels is False and p.keyterms_prompt == ["a b", "c"]
    assert p.llm_gateway["model"] == "m" and p.min_turn_silence == 300 and p.sample_rate == 8000
    with pytest.raises(SessionClose) as exc:
        SessionParams.from_query({"format_turns": "maybe"})
    assert exc.value.code == 3006
    with pytest.raises(SessionClose):
        SessionParams.from_query({"llm_gateway": "{not json"})
