"""The session transport: the bounded frame backlog, the sender thread and the session loop (one
`WebSocketApp` per Streaming v3 session, reconnects with backoff). It knows nothing of turns or SNS:
server messages are parsed and dispatched on `type` to the handlers registered on `dispatcher`.

Threads: the sender (backlog -> `ws.send()`, paced; `Terminate` at the end) and whichever thread calls
`run()` (the session loop: `run_forever`, message handlers, reconnects).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

from .audio import FRAME_MS
from .backoff import Backoff
from .closecodes import Action, Outcome, classify
from .messages import Begin, Dispatcher, ServerError, Termination
from .settings import Settings

log = logging.getLogger(__name__)
# websocket-client logs every close at ERROR, even a normal 1000; the session loop reports closes itself.
logging.getLogger("websocket").setLevel(logging.CRITICAL)


class FrameBacklog:
    """Bounded FIFO of audio frames between the capture thread and the sender thread.

    Memory only, capped at `max_frames` (settings.backlog_seconds of audio). When full, the oldest
    frame is dropped and counted: capture never blocks, and the recording on disk still has it.
    """

    def __init__(self, max_frames: int):
        self.max_frames = max_frames
        self._dq: deque[bytes] = deque()
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False  # no more frames will come (end of file, stop, capture error)
        self.high_water = 0

    def put(self, frame: bytes) -> None:
        with self._cond:
            if len(self._dq) >= self.max_frames:
                self._dq.popleft()
                self.dropped += 1
            self._dq.append(frame)
            self.high_water = max(self.high_water, len(self._dq))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def peek(self, timeout: float) -> bytes | None:
        with self._cond:
            if not self._dq and not self.closed:
                self._cond.wait(timeout)
            return self._dq[0] if self._dq else None

    def pop(self) -> None:
        with self._cond:
            if self._dq:
                self._dq.popleft()

    def __len__(self) -> int:
        with self._cond:
            return len(self._dq)

    @property
    def finished(self) -> bool:
        """Closed and fully sent."""
        with self._cond:
            return self.closed and not self._dq


@dataclass
class SessionState:
    """One streaming session (one websocket connection) as the transport saw it."""

    number: int
    opened_at: float = 0.0
    id: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    error_text: str | None = None
    last_exception: str | None = None
    termination: bool = False
    terminate_sent_at: float | None = None
    aborted: bool = False
    turns: dict[int, Any] = field(default_factory=dict)  # final turns of this session (filled by the client)
    frames_sent: int = 0
    audio_sent_s: float = 0.0
    connected_at: float = 0.0  # handshake done (monotonic); 0 if it never completed
    closed_at: float = 0.0  # run_forever returned (monotonic)


@dataclass(frozen=True)
class LoopResult:
    """How the session loop ended: ok (the call is over), a fatal close, or reconnects exhausted."""

    ok: bool
    message: str
    fatal: bool = False  # a close that must not be retried (closecodes.Action.FATAL)
    auth: bool = False  # ... because the key was rejected


AppFactory = Callable[..., Any]  # websocket.WebSocketApp's signature


class SessionTransport:
    def __init__(self, settings: Settings, api_key: str, url: str, backlog: FrameBacklog, *,
                 app_factory: AppFactory = websocket.WebSocketApp,
                 on_session_end: Callable[[SessionState], None] | None = None):
        self.s = settings
        self._api_key = api_key
        self.url = url
        self.backlog = backlog
        self._app_factory = app_factory
        self._on_session_end = on_session_end or (lambda st: None)
        self.dispatcher = Dispatcher()
        self.dispatcher.on(Begin, self._on_begin)
        self.dispatcher.on(Termination, self._on_termination)
        self.dispatcher.on(ServerError, self._on_server_error)
        self.sessions: list[SessionState] = []
        self.session_ids: list[str] = []
        self.session: SessionState | None = None  # the current one (message handlers read it)
        self.frames_sent = 0
        self.reconnect_times: list[float] = []  # seconds from a drop to the next Begin
        self._ws: Any = None  # the open session the sender may use
        self._ws_lock = threading.Lock()
        self.stop_requested = threading.Event()  # Ctrl+C / SIGTERM
        self._finished = threading.Event()  # the whole call is over: the sender exits
        self._stop_deadline: float | None = None
        self._drop_at: float | None = None
        self._sender_thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Flush what is buffered for at most stop_timeout, then Terminate."""
        if not self.stop_requested.is_set():
            self._stop_deadline = time.monotonic() + self.s.stop_timeout
            self.stop_requested.set()

    def start_sender(self) -> None:
        self._sender_thread = threading.Thread(target=self._sender, name="sender", daemon=True)
        self._sender_thread.start()

    @property
    def call_over(self) -> threading.Event:
        return self._finished

    def finish(self) -> None:
        """The call is over: the sender exits."""
        self._finished.set()
        if self._sender_thread is not None:
            self._sender_thread.join(timeout=self.s.send_timeout + 1)

    # ------------------------------------------------------------------------------------------ session loop

    def run(self) -> LoopResult:
        """Sessions until the call ends, a close is fatal, or reconnects are exhausted."""
        websocket.setdefaulttimeout(self.s.connect_timeout)  # bounds the TCP connect + handshake
        backoff = Backoff(self.s.reconnect_base, self.s.reconnect_cap, self.s.reconnect_max_attempts)
        number = 0
        while True:
            number += 1
            st = self._run_session(number)
            lasted = time.monotonic() - st.opened_at
            outcome = classify(st.close_code, st.close_reason, http_status=st.http_status,
                               termination=st.termination, error_code=st.error_code)
            if outcome.action is Action.DONE:
                return LoopResult(True, "call ended" if not self.stop_requested.is_set() else "stopped by user")
            if st.terminate_sent_at is not None and self.backlog.finished:
                log.warning("no Termination after Terminate (%s); ending the call", outcome.message)
                return LoopResult(True, "call ended (without Termination)")
            if outcome.action is Action.FATAL:
                return self._fatal(outcome)
            self._drop_at = time.monotonic()
            if self.backlog.finished:
                return LoopResult(True, "call ended (all audio sent before the connection closed)")
            if self.stop_requested.is_set() and time.monotonic() >= (self._stop_deadline or 0):
                log.warning("stopping: %d buffered frames not sent (they are in the recording)", len(self.backlog))
                return LoopResult(True, "stopped by user (unsent audio kept in the recording)")
            if st.id is not None and lasted >= self.s.healthy_session_s:
                backoff.reset()
            if backoff.exhausted:
                msg = (f"giving up after {backoff.attempts} failed reconnects; last: {outcome.message}. "
                       "The recording is complete on disk.")
                log.error(msg)
                return LoopResult(False, msg)
            delay = 0.0 if outcome.action is Action.RETRY_NOW else backoff.next_delay()
            log.warning("streaming session %d ended: %s; reconnecting in %.1fs (%d frames buffered)",
                        number, outcome.message, delay, len(self.backlog))
            if self.stop_requested.wait(delay) and self.backlog.finished:
                return LoopResult(True, "stopped by user")

    @staticmethod
    def _fatal(outcome: Outcome) -> LoopResult:
        log.error("streaming stopped: %s", outcome.message)
        return LoopResult(False, outcome.message, fatal=True, auth=outcome.auth)

    def _run_session(self, number: int) -> SessionState:
        st = SessionState(number=number, opened_at=time.monotonic())
        self.session = st
        self.sessions.append(st)
        headers = {"Authorization": self._api_key, "User-Agent": "call-analytics-edge-client/1.0"}
        app = self._app_factory(
            self.url, header=headers,
            on_open=lambda ws: self._on_open(ws, st),
            on_message=lambda ws, msg: self._on_message(st, msg),
            on_error=lambda ws, err: self._on_error(ws, st, err),
            on_close=lambda ws, code, reason: self._on_close(ws, st, code, reason),
        )
        try:
            app.run_forever(ping_interval=self.s.ping_interval, ping_timeout=self.s.ping_timeout)
        except Exception as exc:  # noqa: BLE001 - run_forever reports most errors via on_error
            st.last_exception = f"{type(exc).__name__}: {exc}"
        finally:
            st.closed_at = time.monotonic()
            with self._ws_lock:
                self._ws = None
        self._on_session_end(st)
        return st

    # ------------------------------------------------------------------------------------------ ws callbacks

    def _on_open(self, ws, st: SessionState) -> None:
        try:
            ws.sock.settimeout(self.s.send_timeout)  # a send on a dead path raises instead of hanging
        except (AttributeError, OSError) as exc:
            log.debug("cannot set the send timeout: %s", exc)
        st.connected_at = time.monotonic()
        with self._ws_lock:
            self._ws = ws
        log.debug("session %d connected", st.number)

    def _on_message(self, st: SessionState, message: str | bytes) -> None:
        if self.session is st:
            self.dispatcher.dispatch_raw(message)

    def _on_error(self, ws, st: SessionState, err: Exception) -> None:
        # websocket-client calls on_error on every close, even a normal one: decide in on_close.
        status = getattr(err, "status_code", None)
        if isinstance(err, websocket.WebSocketBadStatusException) and status:
            st.http_status = int(status)
        st.last_exception = f"{type(err).__name__}: {err}"
        log.debug("session %d websocket error: %s", st.number, st.last_exception)
        if isinstance(err, websocket.WebSocketTimeoutException):
            # ping/pong or handshake timeout: the path is dead. Shut the socket down now, or the teardown
            # that follows waits up to 3 s for a close frame that cannot arrive.
            log.warning("session %d: %s; the network path looks dead", st.number, err)
            self._abort(ws)

    def _on_close(self, ws, st: SessionState, code: int | None, reason: str | None) -> None:
        st.close_code = code
        st.close_reason = reason or st.error_text
        with self._ws_lock:
            if self._ws is ws:
                self._ws = None
        log.info("session %d (%s) closed: code=%s reason=%s", st.number, st.id, code, reason or "")

    # ------------------------------------------------------------------------------------------ session messages

    def _on_begin(self, m: Begin) -> None:
        self.session.id = m.id
        self.session_ids.append(m.id)
        if self._drop_at is not None:
            self.reconnect_times.append(time.monotonic() - self._drop_at)
            log.info("reconnected in %.2fs: new session %s (%d frames to catch up)",
                     self.reconnect_times[-1], m.id, len(self.backlog))
            self._drop_at = None
        else:
            log.info("session started: %s", m.id)

    def _on_termination(self, m: Termination) -> None:
        self.session.termination = True
        log.info("session %s terminated: %s s of audio", self.session.id, m.audio_duration_seconds)

    def _on_server_error(self, m: ServerError) -> None:
        self.session.error_code = m.error_code
        self.session.error_text = m.error
        log.warning("server error %s: %s", m.error_code, m.error)

    # ------------------------------------------------------------------------------------------ sender

    def _sender(self) -> None:
        frame_s = FRAME_MS / 1000
        interval = frame_s / self.s.catchup_rate
        next_send = 0.0
        while not self._finished.is_set():
            with self._ws_lock:
                ws, st = self._ws, self.session
            if ws is None:
                self._finished.wait(0.02)
                continue
            if st.terminate_sent_at is not None:  # waiting for Termination, bounded
                if not st.aborted and time.monotonic() - st.terminate_sent_at > self.s.terminate_timeout:
                    log.warning("no Termination within %.1fs; closing the connection", self.s.terminate_timeout)
                    st.aborted = True
                    self._abort(ws)
                self._finished.wait(0.05)
                continue
            stop_expired = self.stop_requested.is_set() and time.monotonic() >= (self._stop_deadline or 0)
            if self.backlog.finished or stop_expired:
                self._send_terminate(ws, st, abandoned=len(self.backlog) if stop_expired else 0)
                continue
            frame = self.backlog.peek(timeout=0.05)
            if frame is None:
                continue
            # Pace: at most catchup_rate x real time, and never more than max_lead_s of audio ahead of
            # the session's wall clock (the service closes with 3007 "rate exceeded" beyond its allowance).
            now = time.monotonic()
            lead_wait = (st.audio_sent_s + frame_s - self.s.max_lead_s) - (now - st.connected_at)
            wait = max(next_send - now, lead_wait)
            if wait > 0:
                self._finished.wait(min(wait, 0.05))
                continue
            next_send = max(next_send, now) + interval
            try:
                ws.send(frame, websocket.ABNF.OPCODE_BINARY)
            except Exception as exc:  # noqa: BLE001 - closed or dead socket: the session loop reconnects
                log.warning("audio send failed (%s: %s); the frame stays buffered", type(exc).__name__, exc)
                with self._ws_lock:
                    if self._ws is ws:
                        self._ws = None
                self._abort(ws)
                continue
            self.backlog.pop()
            self.frames_sent += 1
            st.frames_sent += 1
            st.audio_sent_s += frame_s

    def _send_terminate(self, ws, st: SessionState, abandoned: int = 0) -> None:
        if abandoned:
            log.warning("stop timeout: %d buffered frames not streamed (they are in the recording)", abandoned)
        st.terminate_sent_at = time.monotonic()
        try:
            ws.send(json.dumps({"type": "Terminate"}))
            log.info("sent Terminate (session %s)", st.id)
            # From now on terminate_timeout bounds the wait (see _sender). A server that finishes its last
            # turns before reading the socket again may not answer pings meanwhile (the local server does
            # not); a ping/pong timeout here would lose the Termination and its last LLM answers.
            # websocket-client reads this attribute on every check.
            ws.ping_timeout = None
        except Exception as exc:  # noqa: BLE001
            log.warning("could not send Terminate: %s", exc)
            self._abort(ws)

    @staticmethod
    def _abort(ws) -> None:
        """Ends run_forever at once: shut the TCP socket down (a close handshake could block on a
        dead path); the reader then sees the error and on_close(None) fires."""
        ws.keep_running = False
        sock = getattr(ws, "sock", None)
        raw = getattr(sock, "sock", None) if sock is not None else None
        if raw is not None:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
