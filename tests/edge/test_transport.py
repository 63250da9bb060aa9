"""The session transport against FakeWebSocketAppDouble (a scripted stand-in for websocket.WebSocketApp):
sending the backlog, Terminate/Termination, reconnects after a drop without losing frames, fatal
handshakes, giving up, the Termination timeout and the lead cap. No sockets."""

from __future__ import annotations

import json
import threading
import time

import pytest
import websocket

from edge_client.settings import load_settings
from edge_client.transport import FrameBacklog, SessionTransport

FRAME = 1600


class FakeWebSocketAppDouble:
    """Test double for websocket.WebSocketApp: `run_forever` plays `script(app)`, which calls the callbacks
    the way websocket-client 1.9 does; `send` records what the client sent."""

    def __init__(self, script, url, header, on_open, on_message, on_error, on_close):
        self.script, self.url, self.header = script, url, header
        self.on_open, self.on_message, self.on_error, self.on_close = on_open, on_message, on_error, on_close
        self.sock = None
        self.keep_running = True
        self.ping_timeout = None
        self.frames: list[bytes] = []
        self.texts: list[dict] = []
        self.closed = False
        self._cond = threading.Condition()

    def run_forever(self, ping_interval=None, ping_timeout=None):
        self.ping_timeout = ping_timeout
        self.script(self)

    def send(self, data, opcode=websocket.ABNF.OPCODE_TEXT):
        with self._cond:
            if self.closed:
                raise websocket.WebSocketConnectionClosedException("Connection is already closed.")
            if opcode == websocket.ABNF.OPCODE_BINARY:
                self.frames.append(data)
            else:
                self.texts.append(json.loads(data))
            self._cond.notify_all()

    # helpers for scripts
    def server(self, message: dict) -> None:
        self.on_message(self, json.dumps(message))

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0 or not self.keep_running:
                    return predicate(self)
                self._cond.wait(min(left, 0.02))
            return True

    def close(self, code: int | None, reason: str | None = None) -> None:
        with self._cond:
            self.closed = True
        self.on_error(self, websocket.WebSocketConnectionClosedException(f"closed ({code})"))
        self.on_close(self, code, reason)


def terminated(app) -> bool:
    return any(t.get("type") == "Terminate" for t in app.texts)


def normal_session(session_id: str):
    def script(app):
        app.on_open(app)
        app.server({"type": "Begin", "id": session_id})
        assert app.wait(terminated), "no Terminate"
        app.server({"type": "Termination", "audio_duration_seconds": len(app.frames) * 0.05})
        app.close(1000)
    return script


def dropped_after(frames: int, code: int | None, session_id: str, reason: str | None = None):
    def script(app):
        app.on_open(app)
        app.server({"type": "Begin", "id": session_id})
        app.wait(lambda a: len(a.frames) >= frames)
        app.close(code, reason)
    return script


def rejected_handshake(status: int):
    def script(app):
        app.on_error(app, websocket.WebSocketBadStatusException("Handshake status %d", status))
        app.on_close(app, None, None)
    return script


def silent_after_terminate(app):
    app.on_open(app)
    app.server({"type": "Begin", "id": "mute"})
    app.wait(lambda a: not a.keep_running, timeout=10)  # until the client gives up and aborts
    app.close(None)


class Factory:
    """Hands out one scripted app per session, in order."""

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.apps: list[FakeWebSocketAppDouble] = []

    def __call__(self, url, **callbacks):
        app = FakeWebSocketAppDouble(self.scripts.pop(0), url, **callbacks)
        self.apps.append(app)
        return app


def settings(tmp_path, **overrides):
    base = {"api_url": "ws://127.0.0.1:9/v3/ws", "data_dir": str(tmp_path), "catchup_rate": 50.0,
            "max_lead_s": 3600.0, "reconnect_base": 0.01, "reconnect_cap": 0.05, "terminate_timeout": 2.0,
            "log_file": "none"}
    return load_settings({**base, **overrides}, env={})


def full_backlog(n: int) -> FrameBacklog:
    b = FrameBacklog(1000)
    for i in range(n):
        b.put(i.to_bytes(4, "big") * (FRAME // 4))  # each frame says which one it is
    b.close()  # like a WAV source that has ended
    return b


def run(transport: SessionTransport):
    transport.start_sender()
    try:
        return transport.run()
    finally:
        transport.finish()


def frame_numbers(apps) -> list[int]:
    return [int.from_bytes(f[:4], "big") for app in apps for f in app.frames]


def test_the_backlog_is_sent_then_terminate_and_the_call_ends_on_termination(tmp_path):
    factory = Factory(normal_session("s1"))
    t = SessionTransport(settings(tmp_path), "key-123", "ws://x/v3/ws?a=1", full_backlog(30), app_factory=factory)
    result = run(t)
    assert result.ok and result.message == "call ended"
    [app] = factory.apps
    assert app.url == "ws://x/v3/ws?a=1" and app.header["Authorization"] == "key-123"
    assert frame_numbers(factory.apps) == list(range(30)) and t.frames_sent == 30
    assert app.texts == [{"type": "Terminate"}] and app.ping_timeout is None  # ping check off after Terminate
    assert t.session_ids == ["s1"] and t.sessions[0].termination and t.sessions[0].close_code == 1000


@pytest.mark.parametrize("code", [1011, 3005, None])
def test_a_drop_reconnects_with_a_new_session_and_no_frame_is_lost_or_repeated(tmp_path, code):
    factory = Factory(dropped_after(10, code, "s1"), normal_session("s2"))
    ended = []
    t = SessionTransport(settings(tmp_path), "k", "ws://x", full_backlog(40), app_factory=factory,
                         on_session_end=ended.append)
    result = run(t)
    assert result.ok, result.message
    assert t.session_ids == ["s1", "s2"] and [st.number for st in ended] == [1, 2]
    assert t.sessions[0].close_code == code and not t.sessions[0].termination and t.sessions[1].termination
    assert frame_numbers(factory.apps) == list(range(40))  # in order, once each, across both sessions
    assert len(t.reconnect_times) == 1 and t.backlog.dropped == 0


def test_session_expiry_reconnects_at_once(tmp_path, caplog):
    factory = Factory(dropped_after(5, 3008, "s1", "Session Expired"), normal_session("s2"))
    t = SessionTransport(settings(tmp_path, reconnect_base=5.0, reconnect_cap=5.0), "k", "ws://x",
                         full_backlog(10), app_factory=factory)
    started = time.monotonic()
    assert run(t).ok
    assert time.monotonic() - started < 4  # not the 2.5-5 s backoff
    assert "reconnecting in 0.0s" in caplog.text


@pytest.mark.parametrize("status,auth", [(401, True), (404, False)])
def test_a_rejected_handshake_is_fatal_without_retry(tmp_path, status, auth):
    factory = Factory(rejected_handshake(status))
    t = SessionTransport(settings(tmp_path), "k", "ws://x", full_backlog(5), app_factory=factory)
    result = run(t)
    assert not result.ok and result.fatal and result.auth is auth and f"HTTP {status}" in result.message
    assert len(t.sessions) == 1 and t.sessions[0].http_status == status


def test_it_gives_up_after_max_attempts_of_failed_sessions(tmp_path):
    factory = Factory(*[dropped_after(0, None, f"s{i}") for i in range(3)])
    live = FrameBacklog(1000)  # capture goes on (never closed): only the reconnect limit can end this call
    t = SessionTransport(settings(tmp_path, reconnect_max_attempts=2), "k", "ws://x", live, app_factory=factory)
    result = run(t)
    assert not result.ok and not result.fatal and "giving up after 2 failed reconnects" in result.message
    assert len(t.sessions) == 3


def test_no_termination_after_terminate_is_bounded_by_terminate_timeout(tmp_path):
    factory = Factory(silent_after_terminate)
    t = SessionTransport(settings(tmp_path, terminate_timeout=0.3), "k", "ws://x", full_backlog(4),
                         app_factory=factory)
    started = time.monotonic()
    result = run(t)
    assert result.ok and result.message == "call ended (without Termination)"
    assert time.monotonic() - started < 5 and t.sessions[0].aborted


def test_the_sender_stays_within_max_lead_of_the_session_clock(tmp_path):
    factory = Factory(normal_session("s1"))
    t = SessionTransport(settings(tmp_path, catchup_rate=50.0, max_lead_s=0.25), "k", "ws://x", full_backlog(20),
                         app_factory=factory)
    started = time.monotonic()
    assert run(t).ok
    took = time.monotonic() - started
    # 1 s of audio, at most 0.25 s ahead of the clock: at least 0.75 s, though 50x would take 0.02 s
    assert took >= 0.7, took
    st = t.sessions[0]
    assert st.audio_sent_s <= (st.closed_at - st.connected_at) + 0.25 + 1e-6
