"""The edge client: capture thread -> bounded backlog -> one sender thread -> Streaming v3 session loop,
with LLM responses going to the durable outbox (published to SNS by its own thread).

Threads and who waits on what:
* capture: `source.frames()` -> WAV recorder (disk) -> backlog. Never touches the network.
* sender: backlog -> `ws.send()`; at most `catchup_rate` x real time; sends `Terminate` at the end.
* main: the session loop (`WebSocketApp.run_forever`, message handlers) and reconnects.
* sns-publisher: outbox -> SNS.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import websocket

from .audio import FRAME_MS, AudioError, AudioSource, WavRecorder, frame_samples
from .backoff import Backoff
from .closecodes import Action, Outcome, classify
from .messages import (
    Begin,
    Dispatcher,
    LLMGatewayResponse,
    ServerError,
    Termination,
    Turn,
)
from .outbox import Outbox, OutboxRow
from .settings import Settings

log = logging.getLogger(__name__)
# websocket-client logs every close at ERROR, even a normal 1000; the session loop reports closes itself.
logging.getLogger("websocket").setLevel(logging.CRITICAL)

MESSAGE_SCHEMA = "edge.llm_response.v1"
EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_AUTH, EXIT_AUDIO, EXIT_STREAMING, EXIT_UPLOAD = 0, 1, 2, 3, 4, 5, 6


def utc_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat(timespec="milliseconds")


def new_call_id() -> str:
    return f"edge-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


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
class TurnRecord:
    turn_order: int
    transcript: str
    formatted: bool
    final_at: float
    speaker_label: str | None = None


@dataclass
class SessionState:
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
    turns: dict[int, TurnRecord] = field(default_factory=dict)
    pending_unformatted: dict[int, Turn] = field(default_factory=dict)
    frames_sent: int = 0
    audio_sent_s: float = 0.0
    connected_at: float = 0.0  # handshake done (monotonic); 0 if it never completed
    closed_at: float = 0.0  # run_forever returned (monotonic)


@dataclass
class CallSummary:
    call_id: str
    exit_code: int
    message: str
    recording: Path
    frames_captured: int
    frames_sent: int
    frames_dropped: int
    session_ids: list[str]
    sessions: int
    turns: int
    llm_responses: int
    outbox_pending: int
    outbox_dead: int
    upload_uri: str | None = None
    outbox_spilled: int = 0  # responses only in memory at the end (the outbox could not be written): lost


class EdgeClient:
    def __init__(self, settings: Settings, api_key: str, source: AudioSource, *,
                 outbox: Outbox | None = None, publisher=None, s3_client_factory: Callable[[], object] | None = None,
                 out: Callable[[str], None] | None = None):
        self.s = settings
        self._api_key = api_key
        self.source = source
        self.outbox = outbox
        self.publisher = publisher
        self._s3_factory = s3_client_factory
        self.out = out or (lambda line: print(line, flush=True))
        self.call_id = settings.call_id or new_call_id()
        self.started_at = time.time()
        self.frame_bytes = frame_samples(settings.sample_rate) * 2
        self.backlog = FrameBacklog(max(1, int(settings.backlog_seconds * 1000 / FRAME_MS)))
        self.recording = Path(settings.record_dir) / f"{self.call_id}.wav"
        self.recorder: WavRecorder | None = None
        self.frames_captured = 0
        self.frames_sent = 0
        self.capture_error: BaseException | None = None
        self.session_ids: list[str] = []
        self.sessions: list[SessionState] = []
        self.turns_final = 0
        self.console_errors = 0
        self.enqueue_errors = 0
        self.llm_responses = 0
        self.reconnect_times: list[float] = []  # seconds from a drop to the next Begin
        self.publish_latencies: list[float] = []  # seconds from final turn to SNS accepting the message
        self._session: SessionState | None = None
        self._ws: websocket.WebSocketApp | None = None  # the open session the sender may use
        self._ws_lock = threading.Lock()
        self._stop_requested = threading.Event()  # Ctrl+C / SIGTERM
        self._finished = threading.Event()  # the whole call is over: sender exits
        self._stop_deadline: float | None = None
        self._drop_at: float | None = None
        self.dispatcher = Dispatcher()
        self.dispatcher.on(Begin, self._on_begin)
        self.dispatcher.on(Turn, self._on_turn)
        self.dispatcher.on(LLMGatewayResponse, self._on_llm)
        self.dispatcher.on(Termination, self._on_termination)
        self.dispatcher.on(ServerError, self._on_server_error)
        if publisher is not None:
            publisher.on_published = self._on_published

    # ------------------------------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Ctrl+C: stop capturing, flush what is buffered (bounded), Terminate, wait for Termination."""
        if not self._stop_requested.is_set():
            self._stop_deadline = time.monotonic() + self.s.stop_timeout
            self._stop_requested.set()
            self.source.close()

    @property
    def url(self) -> str:
        params = {"sample_rate": self.s.sample_rate, "encoding": "pcm_s16le", "speech_model": self.s.speech_model,
                  "format_turns": "true" if self.s.format_turns else "false",
                  "llm_gateway": json.dumps({"model": self.s.model, "max_tokens": self.s.max_tokens,
                                             "messages": [{"role": "user", "content": self.s.prompt}]})}
        for name in ("min_turn_silence", "max_turn_silence"):
            if getattr(self.s, name) is not None:
                params[name] = getattr(self.s, name)
        return f"{self.s.streaming_url}?{urlencode(params)}"

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> CallSummary:
        self._write_sidecar()
        self.recorder = WavRecorder(self.recording, self.s.sample_rate)
        log.info("call %s started: agent %s, recording to %s", self.call_id, self.s.agent_id, self.recording)
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        sender = threading.Thread(target=self._sender, name="sender", daemon=True)
        capture.start()
        sender.start()
        exit_code, message = EXIT_OK, "call ended"
        try:
            exit_code, message = self._session_loop()
        except Exception as exc:
            log.exception("unexpected error in the session loop")
            exit_code, message = EXIT_ERROR, f"unexpected error: {exc}"
        finally:
            self._finished.set()
            self.source.close()
            capture.join(timeout=2.0)
            sender.join(timeout=self.s.send_timeout + 1)
            if self.recorder:
                self.recorder.close()
        if self.capture_error is not None and exit_code == EXIT_OK:
            exit_code, message = EXIT_AUDIO, f"audio capture failed: {self.capture_error}"
        upload_uri = None
        if self.s.upload_bucket:
            upload_uri, err = self._upload()
            if err and exit_code == EXIT_OK:
                exit_code, message = EXIT_UPLOAD, err
        self._write_sidecar(ended=True, upload_uri=upload_uri)
        pending = dead = spilled = 0
        if self.outbox is not None:
            try:
                if self.publisher is not None and self.s.drain_timeout > 0:
                    self.publisher.drain(self.s.drain_timeout)
                self.outbox.flush_spill()
                counts = self.outbox.counts()
                pending, dead = counts["pending"], counts["dead"]
            except Exception:
                log.exception("cannot read the outbox %s", self.s.outbox_path)
            spilled = self.outbox.spilled
            if spilled:
                pending = max(pending, spilled)
                for row in self.outbox.spilled_rows():
                    log.error("LLM response %s could NOT be written to the outbox and is lost when the client "
                              "exits (not published): %s", row[0], row[2])
        summary = CallSummary(self.call_id, exit_code, message, self.recording, self.frames_captured,
                              self.frames_sent, self.backlog.dropped, list(self.session_ids), len(self.sessions),
                              self.turns_final, self.llm_responses, pending, dead, upload_uri, spilled)
        log.info("call %s finished (exit %d: %s): frames_captured=%d frames_sent=%d frames_dropped=%d "
                 "recording=%s sessions=%d turns=%d llm_responses=%d outbox_pending=%d outbox_dead=%d",
                 self.call_id, exit_code, message, self.frames_captured, self.frames_sent, self.backlog.dropped,
                 self.recording, len(self.sessions), self.turns_final, self.llm_responses, pending, dead)
        if pending:
            log.warning("%d LLM responses are still in the outbox %s; they will be published when SNS is "
                        "reachable (next start, or `python -m edge_client --drain-outbox`)", pending,
                        self.s.outbox_path)
        if dead:
            log.error("%d LLM responses were rejected by SNS and parked in the outbox (dead=1); see "
                      "docs/edge-client.md, 'Parked messages'", dead)
        return summary

    def _session_loop(self) -> tuple[int, str]:
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
                return EXIT_OK, "call ended" if not self._stop_requested.is_set() else "stopped by user"
            if st.terminate_sent_at is not None and self.backlog.finished:
                log.warning("no Termination after Terminate (%s); ending the call", outcome.message)
                return EXIT_OK, "call ended (without Termination)"
            if outcome.action is Action.FATAL:
                return self._fatal(outcome)
            self._drop_at = time.monotonic()
            if self.backlog.finished:
                return EXIT_OK, "call ended (all audio sent before the connection closed)"
            if self._stop_requested.is_set() and time.monotonic() >= (self._stop_deadline or 0):
                log.warning("stopping: %d buffered frames not sent (they are in the recording)", len(self.backlog))
                return EXIT_OK, "stopped by user (unsent audio kept in the recording)"
            if st.id is not None and lasted >= self.s.healthy_session_s:
                backoff.reset()
            if backoff.exhausted:
                msg = (f"giving up after {backoff.attempts} failed reconnects; last: {outcome.message}. "
                       "The recording is complete on disk.")
                log.error(msg)
                return EXIT_STREAMING, msg
            delay = 0.0 if outcome.action is Action.RETRY_NOW else backoff.next_delay()
            log.warning("streaming session %d ended: %s; reconnecting in %.1fs (%d frames buffered)",
                        number, outcome.message, delay, len(self.backlog))
            if self._stop_requested.wait(delay) and self.backlog.finished:
                return EXIT_OK, "stopped by user"

    def _fatal(self, outcome: Outcome) -> tuple[int, str]:
        log.error("streaming stopped: %s", outcome.message)
        self._say(f"ERROR: {outcome.message}")
        return (EXIT_AUTH if outcome.auth else EXIT_STREAMING), outcome.message

    def _run_session(self, number: int) -> SessionState:
        st = SessionState(number=number, opened_at=time.monotonic())
        self._session = st
        self.sessions.append(st)
        headers = {"Authorization": self._api_key, "User-Agent": "call-analytics-edge-client/1.0"}
        app = websocket.WebSocketApp(
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
        self._flush_pending_turns(st)
        return st

    # ------------------------------------------------------------------------------------------ ws callbacks

    def _on_open(self, ws: websocket.WebSocketApp, st: SessionState) -> None:
        try:
            ws.sock.settimeout(self.s.send_timeout)  # a send on a dead path raises instead of hanging
        except (AttributeError, OSError) as exc:
            log.debug("cannot set the send timeout: %s", exc)
        st.connected_at = time.monotonic()
        with self._ws_lock:
            self._ws = ws
        log.debug("session %d connected", st.number)

    def _on_message(self, st: SessionState, message: str | bytes) -> None:
        if self._session is st:
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

    # ------------------------------------------------------------------------------------------ handlers

    def _on_begin(self, m: Begin) -> None:
        st = self._session
        st.id = m.id
        self.session_ids.append(m.id)
        if self._drop_at is not None:
            self.reconnect_times.append(time.monotonic() - self._drop_at)
            log.info("reconnected in %.2fs: new session %s (%d frames to catch up)",
                     self.reconnect_times[-1], m.id, len(self.backlog))
            self._drop_at = None
        else:
            log.info("session started: %s", m.id)
        self._say(f"[session {m.id} started]")

    def _on_turn(self, m: Turn) -> None:
        st = self._session
        if not m.end_of_turn:
            for order in [o for o in st.pending_unformatted if o < m.turn_order]:
                self._final_turn(st, st.pending_unformatted.pop(order))
            return
        if m.turn_order in st.turns:
            return  # already final (duplicate or a late formatted copy)
        if m.turn_is_formatted or not self.s.format_turns:
            st.pending_unformatted.pop(m.turn_order, None)
            self._final_turn(st, m)
        else:
            st.pending_unformatted[m.turn_order] = m  # prefer the formatted copy that follows

    def _final_turn(self, st: SessionState, m: Turn) -> None:
        st.turns[m.turn_order] = TurnRecord(m.turn_order, m.transcript, m.turn_is_formatted, time.time(),
                                            m.speaker_label)
        self.turns_final += 1
        speaker = f" {m.speaker_label}" if m.speaker_label else ""
        self._say(f"Turn {m.turn_order}{speaker}: {m.transcript}")

    def _flush_pending_turns(self, st: SessionState) -> None:
        for order in sorted(st.pending_unformatted):
            try:
                self._final_turn(st, st.pending_unformatted[order])
            except Exception:
                log.exception("turn handler failed")
        st.pending_unformatted.clear()

    def _on_llm(self, m: LLMGatewayResponse) -> None:
        st = self._session
        if m.turn_order in st.pending_unformatted:
            self._final_turn(st, st.pending_unformatted.pop(m.turn_order))
        turn = st.turns.get(m.turn_order)
        now = time.time()
        self.llm_responses += 1
        session_id = st.id or f"unknown-{st.number}"
        dedup_key = f"{self.call_id}:{session_id}:{m.turn_order}"
        body = {
            "schema": MESSAGE_SCHEMA, "type": "llm_response", "dedup_key": dedup_key,
            "call_id": self.call_id, "session_id": session_id, "session_number": st.number,
            "turn_order": m.turn_order, "agent_id": self.s.agent_id, "profile": self.s.profile,
            "transcript": turn.transcript if turn else m.transcript,
            "speaker_label": turn.speaker_label if turn else None,
            "llm": {"content": m.content, "model": self.s.model, "response_model": m.model,
                    "usage": m.data.get("usage") if isinstance(m.data, dict) else None},
            "timestamps": {"call_started_at": utc_iso(self.started_at),
                           "turn_final_at": utc_iso(turn.final_at) if turn else None,
                           "llm_received_at": utc_iso(now)},
        }
        attributes = {"type": "llm_response", "call_id": self.call_id, "agent_id": self.s.agent_id,
                      "session_id": session_id, "turn_order": str(m.turn_order), "profile": self.s.profile,
                      "model": self.s.model}
        if self.outbox is not None and self.s.topic_arn:
            try:
                new = self.outbox.enqueue(dedup_key, self.s.topic_arn, body, attributes, group_id=self.call_id)
            except Exception:  # storage errors are spilled to memory by the outbox; this is anything else
                self.enqueue_errors += 1
                log.exception("LLM response %s could NOT be stored in the outbox (not published): %s",
                              dedup_key, json.dumps(body, ensure_ascii=False))
                raise
            if not new:
                log.info("duplicate LLM response for %s ignored", dedup_key)
        self._say(f"  LLM (turn {m.turn_order}): {m.content}")

    def _say(self, line: str) -> None:
        """Console output; a broken console (closed pipe, encoding error) must not stop anything."""
        try:
            self.out(line)
        except Exception as exc:  # noqa: BLE001
            self.console_errors += 1
            if self.console_errors == 1:
                log.error("console output failed (%s: %s); the call goes on", type(exc).__name__, exc)

    def _on_termination(self, m: Termination) -> None:
        self._session.termination = True
        log.info("session %s terminated: %s s of audio", self._session.id, m.audio_duration_seconds)

    def _on_server_error(self, m: ServerError) -> None:
        self._session.error_code = m.error_code
        self._session.error_text = m.error
        log.warning("server error %s: %s", m.error_code, m.error)

    def _on_published(self, row: OutboxRow, published_at: float) -> None:
        try:
            body = json.loads(row.body)
            final = body.get("timestamps", {}).get("turn_final_at")
        except ValueError:
            return
        if final:
            latency = published_at - datetime.fromisoformat(final).timestamp()
            self.publish_latencies.append(latency)
            log.info("published %s to SNS %.0f ms after the final turn", row.dedup_key, latency * 1000)

    # ------------------------------------------------------------------------------------------ threads

    def _capture(self) -> None:
        disk_error_logged = False
        try:
            for frame in self.source.frames():
                try:
                    self.recorder.write(frame)
                except OSError as exc:  # e.g. disk full: keep streaming, say so once
                    if not disk_error_logged:
                        log.error("cannot write the recording %s: %s (streaming continues)", self.recording, exc)
                        disk_error_logged = True
                self.frames_captured += 1
                self.backlog.put(frame)
                if self._stop_requested.is_set() or self._finished.is_set():
                    break
        except AudioError as exc:
            self.capture_error = exc
            log.error("audio capture failed: %s", exc)
        except Exception as exc:
            self.capture_error = exc
            log.exception("audio capture failed")
        finally:
            self.backlog.close()
            log.info("capture ended: frames_captured=%d", self.frames_captured)

    def _sender(self) -> None:
        frame_s = FRAME_MS / 1000
        interval = frame_s / self.s.catchup_rate
        next_send = 0.0
        while not self._finished.is_set():
            with self._ws_lock:
                ws, st = self._ws, self._session
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
            stop_expired = self._stop_requested.is_set() and time.monotonic() >= (self._stop_deadline or 0)
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
    def _abort(ws: websocket.WebSocketApp) -> None:
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

    # ------------------------------------------------------------------------------------------ storage

    def _sidecar_path(self) -> Path:
        return self.recording.with_suffix(".json")

    def _write_sidecar(self, ended: bool = False, upload_uri: str | None = None) -> None:
        meta = {"call_id": self.call_id, "agent_id": self.s.agent_id, "profile": self.s.profile,
                "started_at": utc_iso(self.started_at), "ended_at": utc_iso() if ended else None,
                "session_ids": self.session_ids, "sample_rate": self.s.sample_rate,
                "frames_captured": self.frames_captured, "recording": self.recording.name, "uploaded": upload_uri}
        try:
            path = self._sidecar_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            tmp.replace(path)
        except OSError as exc:
            log.error("cannot write %s: %s", self._sidecar_path(), exc)

    def upload_key(self) -> str:
        day = datetime.fromtimestamp(self.started_at, UTC)
        return f"{self.s.upload_prefix}{self.s.agent_id}/{day:%Y/%m/%d}/{self.call_id}.wav"

    def _upload(self) -> tuple[str | None, str | None]:
        key = self.upload_key()
        meta = {"call-id": self.call_id, "agent-id": self.s.agent_id, "profile": self.s.profile,
                "started-at": utc_iso(self.started_at), "session-ids": ",".join(self.session_ids),
                "source": "edge-client"}
        meta = {k: v.encode("ascii", "replace").decode() for k, v in meta.items()}
        try:
            client = self._s3_factory() if self._s3_factory else _s3_client(self.s.aws_region)
            client.upload_file(str(self.recording), self.s.upload_bucket, key,
                               ExtraArgs={"Metadata": meta, "ContentType": "audio/wav"})
        except Exception as exc:  # noqa: BLE001
            err = (f"recording upload to s3://{self.s.upload_bucket}/{key} failed ({type(exc).__name__}: {exc}); "
                   f"the recording is kept at {self.recording}")
            log.error(err)
            return None, err
        uri = f"s3://{self.s.upload_bucket}/{key}"
        log.info("recording uploaded to %s", uri)
        return uri, None


def _s3_client(region: str | None):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, config=Config(
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 4}))


def purge_old_recordings(record_dir: Path, retention_days: int, now: float | None = None) -> int:
    """Deletes uploaded recordings (sidecar says where) older than `retention_days`. Never deletes a
    recording that was not uploaded."""
    if retention_days <= 0 or not record_dir.is_dir():
        return 0
    cutoff = (now or time.time()) - retention_days * 86400
    removed = 0
    for meta_path in record_dir.glob("*.json"):
        try:
            meta = json.loads(meta_path.read_text())
            wav = record_dir / meta.get("recording", "")
            if meta.get("uploaded") and meta_path.stat().st_mtime < cutoff:
                if wav.is_file() and wav.suffix == ".wav":
                    wav.unlink()
                meta_path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed
