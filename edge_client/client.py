"""The edge client, composed: capture thread -> recording + bounded backlog -> session transport
(sender thread, Streaming v3 session loop, reconnects) -> turn tracker -> durable outbox (published to
SNS by its own thread), and the end-of-call summary.

Parts: `transport.py` (websocket, sender, reconnect), `turns.py` (pure turn tracking and the SNS
message layout), `recording.py` (WAV, sidecar, upload, retention), `outbox.py` (sqlite + publisher).

Threads and who waits on what:
* capture: `source.frames()` -> WAV recorder (disk) -> backlog. Never touches the network.
* sender: backlog -> `ws.send()`; at most `catchup_rate` x real time; sends `Terminate` at the end.
* main: the session loop (`WebSocketApp.run_forever`, message handlers) and reconnects.
* sns-publisher: outbox -> SNS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from .audio import FRAME_MS, AudioError, AudioSource
from .messages import Begin, LLMGatewayResponse, Turn
from .outbox import Outbox, OutboxRow
from .recording import CallRecording, purge_old_recordings, s3_client
from .settings import Settings
from .transport import AppFactory, FrameBacklog, SessionState, SessionTransport
from .turns import MESSAGE_SCHEMA, CallIdentity, FinalTurn, OutboxMessage, TurnTracker, utc_iso

__all__ = ["MESSAGE_SCHEMA", "CallSummary", "EdgeClient", "FrameBacklog", "SessionState", "purge_old_recordings",
           "utc_iso"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_AUTH, EXIT_AUDIO, EXIT_STREAMING, EXIT_UPLOAD = 0, 1, 2, 3, 4, 5, 6


def new_call_id() -> str:
    return f"edge-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def streaming_url(s: Settings) -> str:
    params = {"sample_rate": s.sample_rate, "encoding": "pcm_s16le", "speech_model": s.speech_model,
              "format_turns": "true" if s.format_turns else "false",
              "llm_gateway": json.dumps({"model": s.model, "max_tokens": s.max_tokens,
                                         "messages": [{"role": "user", "content": s.prompt}]})}
    for name in ("min_turn_silence", "max_turn_silence"):
        if getattr(s, name) is not None:
            params[name] = getattr(s, name)
    return f"{s.streaming_url}?{urlencode(params)}"


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
                 out: Callable[[str], None] | None = None, app_factory: AppFactory | None = None):
        self.s = settings
        self.source = source
        self.outbox = outbox
        self.publisher = publisher
        self._s3_factory = s3_client_factory or (lambda: s3_client(settings.aws_region))
        self.out = out or (lambda line: print(line, flush=True))
        self.call_id = settings.call_id or new_call_id()
        self.started_at = time.time()
        self.backlog = FrameBacklog(max(1, int(settings.backlog_seconds * 1000 / FRAME_MS)))
        self.rec = CallRecording(settings.record_dir, self.call_id, agent_id=settings.agent_id,
                                 profile=settings.profile, sample_rate=settings.sample_rate,
                                 started_at=self.started_at)
        self.recording = self.rec.path
        self.frames_captured = 0
        self.capture_error: BaseException | None = None
        self.console_errors = 0
        self.enqueue_errors = 0
        self.publish_latencies: list[float] = []  # seconds from final turn to SNS accepting the message
        self.tracker = TurnTracker(CallIdentity(self.call_id, settings.agent_id, settings.profile, settings.model,
                                                self.started_at), format_turns=settings.format_turns)
        extra = {"app_factory": app_factory} if app_factory is not None else {}
        self.transport = SessionTransport(settings, api_key, streaming_url(settings), self.backlog,
                                          on_session_end=self._on_session_end, **extra)
        self.dispatcher = self.transport.dispatcher
        self.dispatcher.on(Begin, self._on_begin)
        self.dispatcher.on(Turn, self._on_turn_message)
        self.dispatcher.on(LLMGatewayResponse, self._on_turn_message)
        if publisher is not None:
            publisher.on_published = self._on_published

    # ------------------------------------------------------------------------------------------ views

    @property
    def url(self) -> str:
        return self.transport.url

    @property
    def _session(self) -> SessionState | None:
        return self.transport.session

    @_session.setter
    def _session(self, st: SessionState) -> None:  # tests set a session without a socket
        self.transport.session = st

    @property
    def _stop_requested(self) -> threading.Event:
        return self.transport.stop_requested

    @property
    def sessions(self) -> list[SessionState]:
        return self.transport.sessions

    @property
    def session_ids(self) -> list[str]:
        return self.transport.session_ids

    @property
    def reconnect_times(self) -> list[float]:
        return self.transport.reconnect_times

    @property
    def frames_sent(self) -> int:
        return self.transport.frames_sent

    @property
    def turns_final(self) -> int:
        return self.tracker.turns_final

    @property
    def llm_responses(self) -> int:
        return self.tracker.llm_responses

    # ------------------------------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Ctrl+C: stop capturing, flush what is buffered (bounded), Terminate, wait for Termination."""
        if not self.transport.stop_requested.is_set():
            self.transport.request_stop()
            self.source.close()

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> CallSummary:
        self.rec.write_sidecar([], 0)
        self.rec.open()
        log.info("call %s started: agent %s, recording to %s", self.call_id, self.s.agent_id, self.recording)
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        capture.start()
        self.transport.start_sender()
        exit_code, message = EXIT_OK, "call ended"
        try:
            result = self.transport.run()
            exit_code, message = EXIT_OK, result.message
            if not result.ok:
                exit_code = EXIT_AUTH if result.auth else EXIT_STREAMING
                if result.fatal:
                    self._say(f"ERROR: {result.message}")
        except Exception as exc:
            log.exception("unexpected error in the session loop")
            exit_code, message = EXIT_ERROR, f"unexpected error: {exc}"
        finally:
            self.transport.finish()
            self.source.close()
            capture.join(timeout=2.0)
            self.rec.close()
        if self.capture_error is not None and exit_code == EXIT_OK:
            exit_code, message = EXIT_AUDIO, f"audio capture failed: {self.capture_error}"
        upload_uri = None
        if self.s.upload_bucket:
            upload_uri, err = self.rec.upload(self.s.upload_bucket, self.s.upload_prefix, self.session_ids,
                                              self._s3_factory)
            if err and exit_code == EXIT_OK:
                exit_code, message = EXIT_UPLOAD, err
        self.rec.write_sidecar(self.session_ids, self.frames_captured, ended=True, upload_uri=upload_uri)
        pending, dead, spilled = self._settle_outbox()
        summary = CallSummary(self.call_id, exit_code, message, self.recording, self.frames_captured,
                              self.frames_sent, self.backlog.dropped, list(self.session_ids), len(self.sessions),
                              self.turns_final, self.llm_responses, pending, dead, upload_uri, spilled)
        self._log_summary(summary)
        return summary

    def _settle_outbox(self) -> tuple[int, int, int]:
        """Drain (bounded), store what was spilled, count: (pending, dead, spilled)."""
        pending = dead = spilled = 0
        if self.outbox is None:
            return pending, dead, spilled
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
        return pending, dead, spilled

    def _log_summary(self, s: CallSummary) -> None:
        log.info("call %s finished (exit %d: %s): frames_captured=%d frames_sent=%d frames_dropped=%d "
                 "recording=%s sessions=%d turns=%d llm_responses=%d outbox_pending=%d outbox_dead=%d",
                 s.call_id, s.exit_code, s.message, s.frames_captured, s.frames_sent, s.frames_dropped,
                 s.recording, s.sessions, s.turns, s.llm_responses, s.outbox_pending, s.outbox_dead)
        if s.outbox_pending:
            log.warning("%d LLM responses are still in the outbox %s; they will be published when SNS is "
                        "reachable (next start, or `python -m edge_client --drain-outbox`)", s.outbox_pending,
                        self.s.outbox_path)
        if s.outbox_dead:
            log.error("%d LLM responses were rejected by SNS and parked in the outbox (dead=1); see "
                      "docs/edge-client.md, 'Parked messages'", s.outbox_dead)

    # ------------------------------------------------------------------------------------------ handlers

    def _on_begin(self, m: Begin) -> None:
        self._say(f"[session {m.id} started]")

    def _on_turn_message(self, m: Turn | LLMGatewayResponse) -> None:
        for event in self.tracker.feed(self._session, m):
            self._emit(self._session, event)

    def _on_session_end(self, st: SessionState) -> None:
        for turn in self.tracker.end_session(st):
            try:
                self._emit(st, turn)
            except Exception:
                log.exception("turn handler failed")

    def _emit(self, st: SessionState, event: FinalTurn | OutboxMessage) -> None:
        if isinstance(event, FinalTurn):
            st.turns[event.turn_order] = event
            speaker = f" {event.speaker_label}" if event.speaker_label else ""
            self._say(f"Turn {event.turn_order}{speaker}: {event.transcript}")
            return
        if self.outbox is not None and self.s.topic_arn:
            try:
                new = self.outbox.enqueue(event.dedup_key, self.s.topic_arn, event.body, event.attributes,
                                          group_id=event.group_id)
            except Exception:  # storage errors are spilled to memory by the outbox; this is anything else
                self.enqueue_errors += 1
                log.exception("LLM response %s could NOT be stored in the outbox (not published): %s",
                              event.dedup_key, json.dumps(event.body, ensure_ascii=False))
                raise
            if not new:
                log.info("duplicate LLM response for %s ignored", event.dedup_key)
        self._say(f"  LLM (turn {event.turn_order}): {event.content}")

    def _say(self, line: str) -> None:
        """Console output; a broken console (closed pipe, encoding error) must not stop anything."""
        try:
            self.out(line)
        except Exception as exc:  # noqa: BLE001
            self.console_errors += 1
            if self.console_errors == 1:
                log.error("console output failed (%s: %s); the call goes on", type(exc).__name__, exc)

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

    # ------------------------------------------------------------------------------------------ capture

    def _capture(self) -> None:
        try:
            for frame in self.source.frames():
                self.rec.write(frame)
                self.frames_captured += 1
                self.backlog.put(frame)
                if self.transport.stop_requested.is_set() or self.transport.call_over.is_set():
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
