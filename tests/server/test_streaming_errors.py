"""Streaming v3 when decoding fails: the session ends with Error 3005 + close 3005, never hangs.

A real StreamingSession runs behind a bare aiohttp endpoint in a thread (as in
test_streaming_finish.py), with fake speech engines that raise or block. Every test bounds how long
the end of the session may take, so a regression shows as a failure, not as a hung test run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from aiohttp import web
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from local_assemblyai.config import StreamingConfig
from local_assemblyai.streaming import SessionParams, StreamingSession

from .helpers import wait_for

FINAL_BEAM = 5  # the fake engine's beam_size: final decodes use it, partial decodes use beam 1
REASON = "Session Cancelled: An error occurred"
BOUND = 5.0  # seconds within which a failed session must be over (the fake decodes take 50 ms)


class FailingEngine:
    """Answers "Hello there." (50 ms per decode); raises on the decodes selected by `fail`; with
    `block`, the failing decodes hang instead (until `release` is set, at most 30 s)."""

    settings = SimpleNamespace(beam_size=FINAL_BEAM)

    def __init__(self, fail: str = "final", ok_finals: int = 0, block: bool = False) -> None:
        self.fail = fail  # "final" | "partial" | "any"
        self.ok_finals = ok_finals  # finals that succeed before the failing one
        self.block = block
        self.release = threading.Event()
        self.finals = self.partials = 0
        self.started_failing = threading.Event()

    def transcribe_samples(self, segment: np.ndarray, *, beam_size: int, **_: object) -> list[dict]:
        final = beam_size == FINAL_BEAM
        if final:
            self.finals += 1
        else:
            self.partials += 1
        failing = (self.fail == "any" or self.fail == ("final" if final else "partial")) and not (
            final and self.finals <= self.ok_finals)
        if failing:
            self.started_failing.set()
            if self.block:
                self.release.wait(30)
                return []
            raise RuntimeError("fake engine failure")
        time.sleep(0.05)
        return [{"start": 0.0, "end": len(segment) / 16000, "text": "Hello there.", "confidence": 0.9}]


class ErrorServer:
    """127.0.0.1 only. Each test sets `engine` and `cfg` before connecting; `sessions` holds the
    StreamingSession objects (newest last), `done` counts finished sessions."""

    def __init__(self) -> None:
        self.engine: FailingEngine = FailingEngine()
        self.cfg = StreamingConfig()
        self.sessions: list[StreamingSession] = []
        self.done = 0
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/v3/ws", self._handler)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _chat(self, cfg: dict, text: str) -> dict:  # not used: the sessions have no llm_gateway
        return {}

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 2**20)
        await ws.prepare(request)
        session = StreamingSession(ws, SessionParams.from_query(dict(request.query)), self.engine, self.cfg,
                                   self._chat, 3600)
        self.sessions.append(session)
        try:
            await session.run()
        finally:
            self.done += 1
        return ws

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v3/ws?sample_rate=16000"

    def stop(self) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server():
    srv = ErrorServer()
    yield srv
    srv.stop()


@pytest.fixture
def use(server):
    """use(engine, **streaming_config) -> server; releases blocked fake decodes afterwards."""
    engines: list[FailingEngine] = []

    def _use(engine: FailingEngine, **cfg: object) -> ErrorServer:
        engines.append(engine)
        server.engine, server.cfg = engine, StreamingConfig(**cfg)
        return server

    yield _use
    for e in engines:
        e.release.set()


def speak(ws, seconds: float = 0.5) -> None:
    """0.3 s of silence, then a loud tone, in 100 ms chunks: the VAD opens a turn. (The silence keeps
    the VAD's noise floor low, so a second speak() opens a second turn.)"""
    t = np.arange(1600) / 16000
    chunk = (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()
    for _ in range(3):
        ws.send(bytes(len(chunk)))
    for _ in range(round(seconds / 0.1)):
        ws.send(chunk)


def until_closed(ws, bound: float = BOUND) -> tuple[list[dict], int | None, str, float]:
    """Messages until the server closes -> (messages, close code, close reason, seconds taken).
    Fails (instead of hanging) when the session is not over within `bound` seconds."""
    msgs: list[dict] = []
    t0 = time.monotonic()
    while True:
        left = bound - (time.monotonic() - t0)
        try:
            msgs.append(json.loads(ws.recv(timeout=max(0.01, left))))
        except TimeoutError:
            pytest.fail(f"session not over within {bound}s; got {[m['type'] for m in msgs]}")
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, f"connection lost without a close frame: {exc!r}"
            return msgs, exc.rcvd.code, exc.rcvd.reason, time.monotonic() - t0


def begin(ws) -> str:
    msg = json.loads(ws.recv(timeout=5))
    assert msg["type"] == "Begin"
    return msg["id"]


def assert_error_3005(msgs: list[dict], code: int | None, reason: str) -> None:
    assert msgs and msgs[-1] == {"type": "Error", "error_code": 3005, "error": REASON}
    assert code == 3005 and reason == REASON


def assert_logged(caplog, session_id: str, text: str) -> None:
    hits = [r for r in caplog.records if r.name == "local_assemblyai.streaming" and session_id in r.getMessage()]
    assert any(text in r.getMessage() for r in hits), [r.getMessage() for r in hits]


# -- (a) a decode fails mid-session: Error 3005 + close 3005 at once, without the client doing anything

def test_final_decode_error_mid_session_ends_with_3005(use, caplog):
    """Turn 0 decodes fine and is delivered; turn 1's decode raises: Error 3005 + close 3005 follow while
    the client just listens (no Terminate, no close), and the worker's failure is logged."""
    caplog.set_level(logging.ERROR, logger="local_assemblyai.streaming")
    srv = use(FailingEngine(fail="final", ok_finals=1))
    with connect(srv.url) as ws:
        sid = begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "ForceEndpoint"}))
        speak(ws)
        ws.send(json.dumps({"type": "ForceEndpoint"}))
        msgs, code, reason, took = until_closed(ws)
    assert [m["type"] for m in msgs] == ["Turn", "Error"]
    assert msgs[0]["end_of_turn"] and msgs[0]["turn_order"] == 0 and msgs[0]["transcript"] == "hello there"
    assert_error_3005(msgs, code, reason)
    assert took < BOUND
    assert srv.engine.finals == 2
    assert_logged(caplog, sid, "final decode of turn 2")


def test_partial_decode_error_mid_session_ends_with_3005(use, caplog):
    """A partial decode (an open turn, re-decoded after 1 s) fails the same way: the engine is broken."""
    caplog.set_level(logging.ERROR, logger="local_assemblyai.streaming")
    srv = use(FailingEngine(fail="partial"))
    with connect(srv.url) as ws:
        sid = begin(ws)
        speak(ws, 1.2)
        msgs, code, reason, _ = until_closed(ws)
    assert [m["type"] for m in msgs] == ["Error"]
    assert_error_3005(msgs, code, reason)
    assert srv.engine.partials == 1 and srv.engine.finals == 0
    assert_logged(caplog, sid, "partial decode of turn 1")


# -- (b) a decode fails (or never ends) while the session finishes after Terminate

def test_decode_error_after_terminate_ends_with_3005(use, caplog):
    caplog.set_level(logging.ERROR, logger="local_assemblyai.streaming")
    srv = use(FailingEngine(fail="final"))
    with connect(srv.url) as ws:
        sid = begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        msgs, code, reason, took = until_closed(ws)
    assert [m["type"] for m in msgs] == ["Error"]  # no Termination: the last turn was lost
    assert_error_3005(msgs, code, reason)
    assert took < BOUND
    assert_logged(caplog, sid, "final decode of turn 1")


def test_turns_decoded_before_the_failure_are_delivered_before_the_error(use):
    """Two turns queued at Terminate, the second fails: Turn 0, then Error 3005 (never a Termination)."""
    srv = use(FailingEngine(fail="final", ok_finals=1))
    with connect(srv.url) as ws:
        begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "ForceEndpoint"}))
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        msgs, code, reason, _ = until_closed(ws)
    assert [m["type"] for m in msgs] == ["Turn", "Error"]
    assert_error_3005(msgs, code, reason)


def test_decode_that_never_ends_after_terminate_is_bounded(use, caplog):
    """The last decode hangs: after finish_timeout_seconds the session ends with 3005 (and says why)."""
    caplog.set_level(logging.ERROR, logger="local_assemblyai.streaming")
    srv = use(FailingEngine(fail="final", block=True), finish_timeout_seconds=1.0)
    with connect(srv.url) as ws:
        sid = begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        msgs, code, reason, took = until_closed(ws)
    assert_error_3005(msgs, code, reason)
    assert [m["type"] for m in msgs] == ["Error"]
    assert 0.9 <= took < BOUND
    assert_logged(caplog, sid, "not done within 1.0 s after Terminate")


def test_finishing_stops_waiting_when_the_decode_worker_dies(use, caplog):
    """The worker dies while a decode is pending after Terminate: 3005 at once, not after the
    (long) finish timeout."""
    caplog.set_level(logging.ERROR, logger="local_assemblyai.streaming")
    srv = use(FailingEngine(fail="final", block=True), finish_timeout_seconds=60.0)
    with connect(srv.url) as ws:
        sid = begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        assert srv.engine.started_failing.wait(5)
        session = srv.sessions[-1]
        assert session.id == sid
        srv.loop.call_soon_threadsafe(session.decoder_task.cancel)
        msgs, code, reason, took = until_closed(ws)
    assert_error_3005(msgs, code, reason)
    assert took < BOUND
    assert_logged(caplog, sid, "decode worker ended unexpectedly (cancelled)")


def test_a_failed_session_does_not_affect_the_next_one(use, server):
    """After a 3005 the server still runs normal sessions to Termination + 1000."""
    srv = use(FailingEngine(fail="final"))
    with connect(srv.url) as ws:
        begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        assert until_closed(ws)[1] == 3005
    use(FailingEngine(fail="none"))
    done = server.done
    with connect(srv.url) as ws:
        begin(ws)
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        msgs, code, _, _ = until_closed(ws)
    assert code == 1000 and [m["type"] for m in msgs] == ["Turn", "Termination"]
    wait_for(lambda: server.done >= done + 1, timeout=5)
