"""Streaming v3 after `Terminate`: the session keeps reading the socket while it finishes.

A real StreamingSession runs behind a bare aiohttp endpoint (same `WebSocketResponse(autoping=True)` as
the server) in a thread, with a fake speech engine and an LLM that answers slowly, so the finishing
phase (last Turn -> LLMGatewayResponse -> Termination -> close 1000) is long and deterministic.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace
from urllib.parse import quote

import numpy as np
import pytest
from aiohttp import web
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from local_assemblyai.config import StreamingConfig
from local_assemblyai.streaming import SessionParams, StreamingSession

from .helpers import wait_for

LLM_DELAY = 2.5  # seconds the fake LLM takes per turn: the length of the finishing phase
QUERY = "sample_rate=16000&llm_gateway=" + quote(json.dumps({"model": "m", "max_tokens": 10}))


class FakeEngine:
    settings = SimpleNamespace(beam_size=1)

    def transcribe_samples(self, segment: np.ndarray, **_: object) -> list[dict]:
        time.sleep(0.05)
        return [{"start": 0.0, "end": len(segment) / 16000, "text": "Hello there.", "confidence": 0.9}]


class SlowFinishServer:
    """127.0.0.1 only; counts LLM calls started / cancelled / completed. `ended` maps the id of each
    session whose run() has returned to the LLM calls still pending at that moment (tests run one
    session at a time)."""

    def __init__(self) -> None:
        self.started = self.cancelled = self.completed = 0
        self.ended: dict[str, int] = {}
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

    async def _chat(self, cfg: dict, text: str) -> dict:
        self.started += 1
        try:
            await asyncio.sleep(LLM_DELAY)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.completed += 1
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"re: {text}"}}]}

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 2**20)
        await ws.prepare(request)
        session = StreamingSession(ws, SessionParams.from_query(dict(request.query)), FakeEngine(),
                                   StreamingConfig(), self._chat, 3600)
        try:
            await session.run()
        finally:
            self.ended[session.id] = self.started - self.completed - self.cancelled
        return ws

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v3/ws?{QUERY}"

    def stop(self) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def slow_finish():
    srv = SlowFinishServer()
    yield srv
    srv.stop()


def speak(ws, seconds: float = 0.5) -> None:
    """A loud tone in 100 ms chunks: the VAD opens a turn that is still open at Terminate."""
    t = np.arange(1600) / 16000
    chunk = (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()
    for _ in range(round(seconds / 0.1)):
        ws.send(chunk)


def test_pings_are_answered_while_the_session_finishes(slow_finish):
    """Pong while the last LLM answer is pending; the message sequence is unchanged; and a client
    keepalive with a short timeout (the edge client's situation) does not kill the session."""
    timed: list[tuple[float, dict]] = []
    with connect(slow_finish.url, ping_interval=0.3, ping_timeout=1.5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        t0 = time.monotonic()
        assert ws.ping().wait(timeout=LLM_DELAY / 2), "no pong while finishing"
        first_pong = time.monotonic() - t0
        time.sleep(0.5)
        assert ws.ping().wait(timeout=LLM_DELAY / 2), "no pong later in the finishing phase"
        try:
            while True:
                msg = json.loads(ws.recv(timeout=20))
                timed.append((time.monotonic() - t0, msg))
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, f"connection lost without a close frame: {exc!r}"
            code = exc.rcvd.code
    assert code == 1000
    assert [m["type"] for _, m in timed] == ["Turn", "LLMGatewayResponse", "Termination"]
    turn, llm, term = (m for _, m in timed)
    assert turn["end_of_turn"] and turn["transcript"] == "hello there"
    assert llm["turn_order"] == turn["turn_order"] == 0 and llm["data"]["choices"][0]["message"]["content"]
    assert term["audio_duration_seconds"] == 0  # 0.5 s
    term_at = timed[-1][0]
    assert term_at >= LLM_DELAY * 0.9  # finishing really took long...
    assert first_pong < term_at - 1.0  # ...and the pong came well before it
    assert slow_finish.completed >= 1


def test_client_close_while_finishing_is_answered_and_ends_the_session(slow_finish):
    """A close frame during the finishing phase is answered at once; pending LLM calls are dropped."""
    with connect(slow_finish.url, close_timeout=LLM_DELAY * 2) as ws:
        begin = json.loads(ws.recv(timeout=5))
        assert begin["type"] == "Begin"
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        wait_for(lambda: slow_finish.started > slow_finish.completed + slow_finish.cancelled, timeout=5)
        t0 = time.monotonic()
        ws.close()  # waits for the server's close frame
        took = time.monotonic() - t0
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000
    assert took < LLM_DELAY / 2, f"close answered only after {took:.1f}s"
    # This session, by id: the server drops the TCP connection a loop iteration or two before run()
    # returns, so a count of ended sessions read when a test starts can still miss the previous test's
    # session. 5 s is far more than run() needs after the close (milliseconds) and well under aiohttp's
    # 10 s close timeout, so a session left waiting in ws.close() would still fail here.
    wait_for(lambda: begin["id"] in slow_finish.ended, timeout=5)
    assert slow_finish.ended[begin["id"]] == 0, "LLM calls still pending when the session ended"
    assert slow_finish.cancelled >= 1


def test_client_close_before_terminate_drops_pending_llm_calls(slow_finish):
    """A client that closes mid-session (no Terminate) leaves no LLM call running after the session."""
    cancelled_before = slow_finish.cancelled
    with connect(slow_finish.url) as ws:
        begin = json.loads(ws.recv(timeout=5))
        assert begin["type"] == "Begin"
        speak(ws)
        ws.send(json.dumps({"type": "ForceEndpoint"}))
        while not json.loads(ws.recv(timeout=5))["end_of_turn"]:
            pass  # partial Turns
        wait_for(lambda: slow_finish.started > slow_finish.completed + slow_finish.cancelled, timeout=5)
    wait_for(lambda: begin["id"] in slow_finish.ended, timeout=5)  # bound: see the test above
    assert slow_finish.ended[begin["id"]] == 0, "LLM calls still pending when the session ended"
    assert slow_finish.cancelled == cancelled_before + 1


def test_data_frames_after_terminate_are_ignored(slow_finish):
    """Audio, KeepAlive or even junk after Terminate neither add turns nor raise an Error."""
    with connect(slow_finish.url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"
        speak(ws)
        ws.send(json.dumps({"type": "Terminate"}))
        speak(ws, 0.3)
        for frame in ({"type": "KeepAlive"}, {"type": "ForceEndpoint"}, "not json", {"type": "Terminate"}):
            ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        msgs = []
        try:
            while True:
                msgs.append(json.loads(ws.recv(timeout=20)))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
    assert code == 1000
    assert [m["type"] for m in msgs] == ["Turn", "LLMGatewayResponse", "Termination"]
    assert msgs[-1]["audio_duration_seconds"] == 0  # 0.5 s; the 0.3 s sent after Terminate was not taken
