"""Universal Streaming v3 session (`/v3/ws`): energy VAD turns decoded by the same faster-whisper engine.

Turn detection: 20 ms frames are speech when their level exceeds max(vad_floor_dbfs, noise floor +
vad_margin_db), the noise floor being the 10th percentile of the last 5 s. An open turn ends after
`max_turn_silence` ms of silence, or after `min_turn_silence` ms when the latest decode ends a
sentence (our stand-in for the end-of-turn confidence). While a turn is open it is re-decoded every
`partial_interval_seconds` for partial Turns. Decoding runs in a thread, one job at a time per
session, so messages keep their order.

Decode failures: the decode worker survives an exception (it is logged with the session id) and the
session ends the way the real service reports a server-side failure: `Error` 3005 "Session Cancelled:
An error occurred", then close 3005. This applies to partial and final decodes alike: both use the
same engine, so a failure means the engine is broken, and skipping the turn would silently lose
speech. Nothing waits on the worker without a bound: the finishing phase after `Terminate` waits for
queued decodes at most `finish_timeout_seconds` (then 3005 too) and stops at once if the worker died.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from .config import StreamingConfig
from .diarization import estimate_f0
from .stt import SpeechEngine

log = logging.getLogger("local_assemblyai.streaming")
SR = 16000
INTERNAL_ERROR = "Session Cancelled: An error occurred"  # the real service's 3005 reason
FRAME = 320  # 20 ms at 16 kHz


class SessionDrop(Exception):
    """Fault `ws_drop`: end the session by aborting the TCP connection (no Error, no close frame)."""


class SessionClose(Exception):
    def __init__(self, code: int, reason: str, send_error: bool = True) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.send_error = send_error


def parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {value}")


_INT_PARAMS = ("sample_rate", "min_turn_silence", "max_turn_silence", "min_end_of_turn_silence_when_confident",
               "inactivity_timeout", "max_speakers")
_FLOAT_PARAMS = ("end_of_turn_confidence_threshold", "vad_threshold")
_BOOL_PARAMS = ("format_turns", "language_detection", "speaker_labels", "filter_profanity", "redact_pii",
                "include_partial_turns", "continuous_partials", "session_heartbeat", "acknowledge_silence")
_JSON_PARAMS = ("keyterms_prompt", "llm_gateway", "redact_pii_policies", "language_codes")


@dataclass
class SessionParams:
    sample_rate: int = SR
    encoding: str = "pcm_s16le"
    speech_model: str = "universal-streaming-english"
    format_turns: bool = False
    min_turn_silence: int = 400
    max_turn_silence: int = 1280
    end_of_turn_confidence_threshold: float = 0.4
    vad_threshold: float = 0.4
    keyterms_prompt: list[str] = field(default_factory=list)
    llm_gateway: dict[str, Any] | None = None
    inactivity_timeout: int | None = None
    speaker_labels: bool = False
    max_speakers: int = 2
    language_detection: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_query(cls, query: dict[str, str]) -> SessionParams:
        p = cls()
        for key, raw in query.items():
            if key in ("token",):
                continue
            try:
                if key in _INT_PARAMS:
                    value: Any = int(raw)
                elif key in _FLOAT_PARAMS:
                    value = float(raw)
                elif key in _BOOL_PARAMS:
                    value = parse_bool(raw)
                elif key in _JSON_PARAMS:
                    value = json.loads(raw)
                else:
                    value = raw
            except (ValueError, json.JSONDecodeError) as exc:
                raise SessionClose(3006, f"Invalid Message: bad value for {key}: {exc}") from exc
            p.set(key, value)
        if p.sample_rate <= 0:
            raise SessionClose(3006, "Invalid Message: sample_rate must be a positive integer")
        if p.encoding not in ("pcm_s16le", "pcm_mulaw"):
            raise SessionClose(3006, f"Invalid Message: unsupported encoding {p.encoding}")
        if p.llm_gateway is not None and (not isinstance(p.llm_gateway, dict) or "model" not in p.llm_gateway):
            raise SessionClose(3006, "Invalid Message: llm_gateway must be a JSON object with a model")
        if not isinstance(p.keyterms_prompt, list) or len(p.keyterms_prompt) > 100:
            raise SessionClose(3006, "Invalid Message: keyterms_prompt must be a JSON list of at most 100 terms")
        return p

    def set(self, key: str, value: Any) -> None:
        if key == "min_end_of_turn_silence_when_confident":
            key = "min_turn_silence"  # deprecated alias
        if key in self.__dataclass_fields__ and key != "extra":
            setattr(self, key, value)
        else:
            self.extra[key] = value


_UPDATABLE = {"end_of_turn_confidence_threshold", "min_turn_silence", "max_turn_silence", "vad_threshold",
              "format_turns", "keyterms_prompt", "prompt", "filter_profanity",
              "min_end_of_turn_silence_when_confident"}


def mulaw_decode(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, dtype=np.uint8)
    sign = (u & 0x80) != 0
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    sample = (magnitude - 0x84).astype(np.float32)
    return np.where(sign, -sample, sample) / 32768.0


def _unformat(text: str) -> str:
    """Universal-Streaming's unformatted transcript: lower case, no punctuation."""
    return re.sub(r"[^\w\s'-]", "", text).lower().strip()


class RollingAudio:
    """The session's audio at 16 kHz, addressed by absolute sample index (`audio[start:end]`, `len(audio)`
    = samples received so far), holding only the samples from `keep_from` on.

    Appending costs O(chunk) amortised, not O(session): the held part is moved to the front only when the
    array is full, and the array doubles only while the held part fills more than half of it. So memory
    stays about twice what the decoder still needs (the open turn, queued decodes), whatever the session
    length."""

    def __init__(self, capacity: int = 30 * SR) -> None:
        self._buf = np.zeros(capacity, np.float32)
        self._base = 0        # absolute index of _buf[0]
        self._end = 0         # absolute index after the last sample received
        self.keep_from = 0    # samples before this are no longer needed (set by the session)

    def __len__(self) -> int:
        return self._end

    @property
    def held_seconds(self) -> float:
        return (self._end - self._base) / SR

    def append(self, samples: np.ndarray) -> None:
        n = len(samples)
        used = self._end - self._base
        if used + n > len(self._buf):
            drop = min(max(self.keep_from, self._base), self._end) - self._base
            held = used - drop
            target = self._buf
            if held + n > len(self._buf) // 2:
                target = np.zeros(max(2 * len(self._buf), 2 * (held + n)), np.float32)
            target[:held] = self._buf[drop:used]  # numpy copies overlapping ranges correctly
            self._buf, self._base, used = target, self._base + drop, held
        self._buf[used:used + n] = samples
        self._end += n

    def __getitem__(self, index: slice) -> np.ndarray:
        """A view of absolute samples [start, end); asking for samples already dropped is a bug."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("RollingAudio supports contiguous slices only")
        start = 0 if index.start is None else index.start
        end = self._end if index.stop is None else min(index.stop, self._end)
        if start < self._base:
            raise IndexError(f"audio before sample {self._base} was already dropped (asked for {start})")
        return self._buf[start - self._base:max(start, end) - self._base]


class StreamingSession:
    def __init__(self, ws: web.WebSocketResponse, params: SessionParams, engine: SpeechEngine,
                 cfg: StreamingConfig, chat: Callable[[dict, str], Awaitable[dict]],
                 max_session_seconds: float, close_fault: tuple[int, str, float] | None = None,
                 on_event: Callable[[str], None] | None = None, drop_fault: float | None = None,
                 transport: asyncio.BaseTransport | None = None) -> None:
        self.ws = ws
        self.p = params
        self.engine = engine
        self.cfg = cfg
        self.chat = chat
        self.max_session_seconds = max_session_seconds
        self.close_fault = close_fault
        self.drop_fault = drop_fault  # seconds after the start: abort `transport` (fault ws_drop)
        self.transport = transport
        self.on_event = on_event or (lambda name: None)
        self.id = str(uuid.uuid4())
        self.opened = time.monotonic()
        self.first_audio_at: float | None = None
        self.last_activity = time.monotonic()
        self.audio = RollingAudio()                # what decoding still needs, by absolute sample index
        self.frame_db: deque[float] = deque(maxlen=250)  # the last 5 s of frame levels (noise floor)
        self.frames_analysed = 0
        self.job_starts: deque[int] = deque()      # first sample of each queued or running decode job
        self.turn_start: int | None = None         # sample index
        self.last_speech_end = 0
        self.last_partial_at = 0
        self.last_text = ""
        self.turn_order = 0
        self.turn_id = 0
        self.jobs: asyncio.Queue[tuple[str, int, int, int, bool]] = asyncio.Queue()
        self.busy = False
        self.decoder_task: asyncio.Task | None = None
        # Set (once) to the SessionClose that must end the session when a decode fails or the
        # decode worker ends: every wait on decoding also waits on this future, so none hangs.
        self.decode_failure: asyncio.Future[SessionClose] | None = None
        self.stopping = False  # run() is ending the session (and cancels the decode worker itself)
        self.llm_tasks: set[asyncio.Task] = set()
        self.send_lock = asyncio.Lock()
        self.speaker_f0: list[float] = []
        self.final_turns: list[dict] = []

    # -- I/O ------------------------------------------------------------------------------------
    async def send(self, payload: dict[str, Any]) -> None:
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(payload))

    async def run(self) -> None:
        await self.send({"type": "Begin", "id": self.id, "expires_at": int(time.time() + self.max_session_seconds)})
        self.decode_failure = asyncio.get_running_loop().create_future()
        self.decoder_task = asyncio.create_task(self._decoder())
        self.decoder_task.add_done_callback(self._decoder_ended)
        try:
            await self._loop()
        except SessionClose as exc:
            await self._close_with(exc)
        except SessionDrop:
            self._drop()
        finally:
            # Nothing of the session outlives run(), however it ended: a client close before Terminate
            # must not leave LLM calls running (they would still hit the upstream for a closed socket).
            self.stopping = True
            tasks = [self.decoder_task, *self.llm_tasks]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_with(self, exc: SessionClose) -> None:
        self.on_event(f"ws_close_{exc.code}")
        if exc.send_error:
            await self.send({"type": "Error", "error_code": exc.code, "error": exc.reason})
        for t in self.llm_tasks:
            t.cancel()
        await self.ws.close(code=exc.code, message=exc.reason[:120].encode())

    def _drop(self) -> None:
        """Abort the connection as a network failure or a crashed server would: nothing more is sent."""
        self.on_event("ws_drop")
        for t in self.llm_tasks:
            t.cancel()
        transport = self.transport
        if transport is None:  # not given: the request's own transport (as aiohttp closes it itself)
            req = getattr(self.ws, "_req", None)
            transport = getattr(req, "transport", None)
        if transport is not None:
            transport.abort()

    def _deadline(self) -> float:
        deadlines = [self.opened + self.max_session_seconds]
        if self.close_fault:
            deadlines.append(self.opened + self.close_fault[2])
        if self.drop_fault is not None:
            deadlines.append(self.opened + self.drop_fault)
        if self.p.inactivity_timeout:
            deadlines.append(self.last_activity + self.p.inactivity_timeout)
        return min(deadlines)

    async def _check_deadlines(self) -> bool:
        """Raise SessionClose for a fault/expiry close (SessionDrop for a ws_drop fault); True when the
        inactivity timeout ends the session."""
        now = time.monotonic()
        if self.drop_fault is not None and now >= self.opened + self.drop_fault:
            raise SessionDrop()
        if self.close_fault and now >= self.opened + self.close_fault[2]:
            code, reason, _ = self.close_fault
            raise SessionClose(code, reason)
        if now >= self.opened + self.max_session_seconds:
            raise SessionClose(3008, "Session Expired: Maximum session duration exceeded")
        if self.p.inactivity_timeout and now >= self.last_activity + self.p.inactivity_timeout:
            # v3 does not document an inactivity close code: end the session normally.
            return True
        return False

    async def _loop(self) -> None:
        assert self.decode_failure is not None
        while True:
            self._raise_decode_failure()
            if await self._check_deadlines():
                await self._terminate()
                return
            # Wait for the next frame, a deadline, or a decode failure (which must not wait for the client).
            receiver = asyncio.create_task(self.ws.receive())
            await asyncio.wait({receiver, self.decode_failure}, timeout=max(0.01, self._deadline() - time.monotonic()),
                               return_when=asyncio.FIRST_COMPLETED)
            if not receiver.done():
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
                continue
            msg = receiver.result()
            if msg.type == WSMsgType.BINARY:
                self.last_activity = time.monotonic()
                await self._on_audio(msg.data)
            elif msg.type == WSMsgType.TEXT:
                self.last_activity = time.monotonic()
                if await self._on_text(msg.data):
                    await self._terminate()
                    return
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _on_text(self, data: str) -> bool:
        """Handle a client text message; True for Terminate (the caller then finishes the session)."""
        try:
            msg = json.loads(data)
        except json.JSONDecodeError:
            raise SessionClose(3006, f"Invalid JSON: {data[:200]}") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise SessionClose(3006, f"Invalid Message: {data[:200]}")
        kind = msg["type"]
        if kind == "Terminate":
            return True
        if kind == "ForceEndpoint":
            self._close_turn(forced=True)
        elif kind == "KeepAlive":
            pass
        elif kind == "UpdateConfiguration":
            bad = sorted(set(msg) - _UPDATABLE - {"type"})
            if bad:
                raise SessionClose(3006, f"Invalid Message: cannot update {', '.join(bad)}")
            for k, v in msg.items():
                if k != "type" and v is not None:
                    self.p.set(k, v)
        else:
            raise SessionClose(3006, f"Invalid Message Type: {kind}")
        return False

    # -- audio ----------------------------------------------------------------------------------
    async def _on_audio(self, data: bytes) -> None:
        width = 1 if self.p.encoding == "pcm_mulaw" else 2
        chunk_ms = len(data) / width / self.p.sample_rate * 1000
        if not self.cfg.min_chunk_ms <= chunk_ms <= self.cfg.max_chunk_ms:
            raise SessionClose(3007, f"Input duration violation: {chunk_ms:.0f} ms. Expected between "
                                     f"{self.cfg.min_chunk_ms:.0f} and {self.cfg.max_chunk_ms:.0f} ms")
        now = time.monotonic()
        if self.first_audio_at is None:
            self.first_audio_at = now
        received = (len(self.audio) / SR) + chunk_ms / 1000
        elapsed = now - self.first_audio_at
        if self.cfg.enforce_realtime and received - elapsed > self.cfg.realtime_burst_seconds:
            raise SessionClose(3007, f"Audio Transmission Rate Exceeded: Received {received:.1f} sec. audio in "
                                     f"{elapsed:.1f} sec")
        if width == 1:
            samples = mulaw_decode(data)
        else:
            samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        if self.p.sample_rate != SR:
            n_out = round(len(samples) * SR / self.p.sample_rate)
            samples = np.interp(np.linspace(0, len(samples) - 1, n_out), np.arange(len(samples)),
                                samples).astype(np.float32)
        offset = len(self.audio)
        self.audio.keep_from = self._oldest_needed()
        self.audio.append(samples)
        self._vad(offset)
        await self._maybe_advance()

    def _oldest_needed(self) -> int:
        """First sample still to be read: the VAD's next frame (less the 0.2 s a new turn starts before its
        first loud frame), the open turn, the oldest pending decode."""
        oldest = max(0, self.frames_analysed * FRAME - int(0.2 * SR))
        if self.turn_start is not None:
            oldest = min(oldest, self.turn_start)
        if self.job_starts:
            oldest = min(oldest, self.job_starts[0])
        return oldest

    def _queue_job(self, kind: str, turn_id: int, start: int, end: int, forced: bool) -> None:
        self.job_starts.append(start)  # jobs run in order, so the head is the oldest
        self.jobs.put_nowait((kind, turn_id, start, end, forced))

    def _vad(self, offset: int) -> None:
        """Frame-level VAD and turn boundaries. Runs on every chunk, never waits for decoding, so a
        pause is detected even while the decoder lags behind (e.g. on a loaded machine)."""
        start = (offset // FRAME) * FRAME
        for s in range(start, len(self.audio) - FRAME + 1, FRAME):
            if s // FRAME < self.frames_analysed:
                continue
            rms = float(np.sqrt(np.mean(self.audio[s:s + FRAME] ** 2)) + 1e-9)
            db = 20 * np.log10(rms)
            self.frame_db.append(db)
            self.frames_analysed += 1
            floor = float(np.percentile(self.frame_db, 10)) if len(self.frame_db) >= 25 else -70.0
            if db > max(self.cfg.vad_floor_dbfs, floor + self.cfg.vad_margin_db):
                if self.turn_start is None:
                    self.turn_start = max(0, s - int(0.2 * SR))
                    self.turn_id += 1
                    self.last_partial_at = s
                    self.last_text = ""
                self.last_speech_end = s + FRAME
            elif self.turn_start is not None:
                silence_ms = (s + FRAME - self.last_speech_end) / SR * 1000
                confident = bool(re.search(r"[.?!]$", self.last_text))
                eot_conf = 0.9 if confident else 0.3
                if silence_ms >= self.p.max_turn_silence or (
                        silence_ms >= self.p.min_turn_silence and eot_conf >= self.p.end_of_turn_confidence_threshold):
                    self._close_turn()

    def _close_turn(self, forced: bool = False) -> None:
        if self.turn_start is None:
            return
        end = min(len(self.audio), self.last_speech_end + int(0.2 * SR))
        self._queue_job("final", self.turn_id, self.turn_start, end, forced)
        self.turn_start = None

    async def _maybe_advance(self) -> None:
        """Queue a partial decode of the open turn every partial interval, and once a pause starts
        (its punctuation decides whether the turn may end after min_turn_silence)."""
        if self.turn_start is None or not self.jobs.empty() or self.busy:
            return  # never pile up partials behind a lagging decoder
        silence_ms = (len(self.audio) - self.last_speech_end) / SR * 1000
        if (len(self.audio) - self.last_partial_at) / SR >= self.cfg.partial_interval_seconds or (
                silence_ms >= self.p.min_turn_silence * 0.5 and self.last_partial_at < self.last_speech_end):
            self.last_partial_at = len(self.audio)
            self._queue_job("partial", self.turn_id, self.turn_start, len(self.audio), False)

    async def _decoder(self) -> None:
        """Decode jobs one at a time, in order: messages keep their order and turn_order is sequential.

        A failing job does not stop the worker: it is logged, `decode_failure` is set (the session then
        ends with 3005) and later jobs are only marked done, so `jobs.join()` still completes."""
        assert self.decode_failure is not None
        while True:
            kind, turn_id, start, end, forced = await self.jobs.get()
            self.busy = True
            try:
                if self.decode_failure.done():
                    continue  # the session is ending with an error: nothing more is decoded or sent
                if kind == "partial":
                    if turn_id == self.turn_id and self.turn_start is not None:
                        await self._partial(start, end)
                else:
                    await self._final(start, end, forced)
            except Exception:  # noqa: BLE001 - logged; the session ends with Error 3005 + close 3005
                log.exception("streaming session %s: %s decode of turn %d (%.2f-%.2f s) failed; ending the "
                              "session with 3005", self.id, kind, turn_id, start / SR, end / SR)
                self.on_event("ws_decode_errors")
                self._fail(SessionClose(3005, INTERNAL_ERROR))
            finally:
                self.busy = False
                self.job_starts.popleft()
                self.jobs.task_done()

    def _fail(self, exc: SessionClose) -> None:
        if self.decode_failure is not None and not self.decode_failure.done():
            self.decode_failure.set_result(exc)

    def _decoder_ended(self, task: asyncio.Task) -> None:
        """The worker only ends when run() cancels it; any other end is a failure nothing may wait on."""
        if not self.stopping:
            exc = None if task.cancelled() else task.exception()
            how = repr(exc) if exc is not None else ("cancelled" if task.cancelled() else "returned")
            log.error("streaming session %s: the decode worker ended unexpectedly (%s); ending the session "
                      "with 3005", self.id, how, exc_info=exc)
            self.on_event("ws_decode_errors")
        self._fail(SessionClose(3005, INTERNAL_ERROR))

    def _raise_decode_failure(self) -> None:
        if self.decode_failure is not None and self.decode_failure.done():
            raise self.decode_failure.result()

    async def _decode(self, start: int, end: int, beam: int) -> list[dict]:
        segment = self.audio[start:end].copy()
        hot = " ".join(self.p.keyterms_prompt) or None
        words = await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.engine.transcribe_samples(segment, hotwords=hot, vad_filter=False, beam_size=beam))
        offset_ms = start / SR * 1000
        return [{"start": round(offset_ms + w["start"] * 1000), "end": round(offset_ms + w["end"] * 1000),
                 "text": w["text"], "confidence": w["confidence"]} for w in words]

    async def _partial(self, start: int, end: int) -> None:
        words = await self._decode(start, end, beam=1)
        if not words:
            return
        self.last_text = words[-1]["text"]
        unformatted = [{**w, "text": _unformat(w["text"]), "word_is_final": i < len(words) - 1}
                       for i, w in enumerate(words)]
        unformatted = [w for w in unformatted if w["text"]]
        await self.send({"type": "Turn", "turn_order": self.turn_order, "turn_is_formatted": False,
                         "end_of_turn": False, "transcript": " ".join(w["text"] for w in unformatted[:-1]),
                         "end_of_turn_confidence": 0.3, "utterance": "", "words": unformatted})

    async def _final(self, start: int, end: int, forced: bool) -> None:
        words = await self._decode(start, end, beam=self.engine.settings.beam_size)
        if not words:
            return  # noise, not speech: no turn
        order = self.turn_order
        self.turn_order += 1
        formatted_text = " ".join(w["text"] for w in words)
        raw = [{**w, "text": _unformat(w["text"]), "word_is_final": True} for w in words]
        raw = [w for w in raw if w["text"]]
        extra: dict[str, Any] = {}
        if self.p.speaker_labels:
            extra["speaker_label"] = self._speaker(start, end)
        base = {"type": "Turn", "turn_order": order, "end_of_turn": True,
                "end_of_turn_confidence": 1.0 if forced else 0.9, **extra}
        await self.send({**base, "turn_is_formatted": False, "transcript": " ".join(w["text"] for w in raw),
                         "utterance": formatted_text, "words": raw})
        if self.p.format_turns:
            await self.send({**base, "turn_is_formatted": True, "transcript": formatted_text,
                             "utterance": formatted_text, "words": [{**w, "word_is_final": True} for w in words]})
        self.final_turns.append({"turn_order": order, "transcript": formatted_text})
        self.on_event("ws_turns")
        if self.p.llm_gateway:
            task = asyncio.create_task(self._llm(order, formatted_text))
            self.llm_tasks.add(task)
            task.add_done_callback(self.llm_tasks.discard)

    def _speaker(self, start: int, end: int) -> str:
        """Online pitch clustering: a new speaker when F0 differs by > 9 % from every known one."""
        f0 = estimate_f0(self.audio[start:end])
        if f0 is None:
            return "UNKNOWN"
        for i, known in enumerate(self.speaker_f0):
            if abs(np.log(f0 / known)) < 0.09:
                return chr(ord("A") + i)
        if len(self.speaker_f0) < max(1, self.p.max_speakers):
            self.speaker_f0.append(f0)
            return chr(ord("A") + len(self.speaker_f0) - 1)
        nearest = min(range(len(self.speaker_f0)), key=lambda i: abs(np.log(f0 / self.speaker_f0[i])))
        return chr(ord("A") + nearest)

    async def _llm(self, order: int, text: str) -> None:
        cfg = json.loads(json.dumps(self.p.llm_gateway))  # deep copy
        for m in cfg.get("messages", []):
            if isinstance(m.get("content"), str):
                m["content"] = m["content"].replace("{{turn}}", text)
        if isinstance(cfg.get("prompt"), str):
            cfg["prompt"] = cfg["prompt"].replace("{{turn}}", text)
        try:
            data = await self.chat(cfg, text)
        except Exception as exc:  # noqa: BLE001 - reported to the client, the session continues
            data = getattr(exc, "envelope", None) or {"error": str(exc)}
        await self.send({"type": "LLMGatewayResponse", "turn_order": order, "transcript": text, "data": data})

    async def _terminate(self) -> None:
        """Finish the session: pending Turns, their LLMGatewayResponses, Termination, close 1000.

        Finishing can take seconds (the last decode, LLM answers), so the socket is read meanwhile:
        aiohttp answers pings only inside `receive()`, and a client close must still be noticed.
        Data frames after Terminate are ignored. If the client closes (or the connection drops)
        first, nothing is left to send to: the finishing work is cancelled."""
        self._close_turn()
        finishing = asyncio.create_task(self._finish_pending())
        if not await self._read_until_done(finishing):
            for t in self.llm_tasks:
                t.cancel()
            return
        audio_s = len(self.audio) / SR
        await self.send({"type": "Termination", "audio_duration_seconds": round(audio_s),
                         "session_duration_seconds": round(time.monotonic() - self.opened)})
        await self.ws.close(code=1000)

    async def _finish_pending(self) -> None:
        """Every queued decode is sent before Termination: wait for them, but at most
        `finish_timeout_seconds`, and not at all once a decode failed or the worker died (3005)."""
        assert self.decode_failure is not None
        joined = asyncio.create_task(self.jobs.join())
        try:
            await asyncio.wait({joined, self.decode_failure}, timeout=self.cfg.finish_timeout_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
            all_decoded = joined.done()
        finally:
            if not joined.done():
                joined.cancel()
                await asyncio.gather(joined, return_exceptions=True)
        self._raise_decode_failure()
        if not all_decoded:
            log.error("streaming session %s: queued decodes (%d left) not done within %.1f s after Terminate; "
                      "ending the session with 3005", self.id, self.jobs.qsize() + int(self.busy),
                      self.cfg.finish_timeout_seconds)
            self.on_event("ws_finish_timeouts")
            raise SessionClose(3005, INTERNAL_ERROR)
        if self.llm_tasks:
            await asyncio.wait(list(self.llm_tasks), timeout=30)

    async def _read_until_done(self, task: asyncio.Task) -> bool:
        """Keep a `receive()` pending until `task` ends (pings get their pong meanwhile). True when
        the task finished; False when the client closed or the connection failed first."""
        receiver: asyncio.Task | None = None
        try:
            while not task.done():
                if receiver is None:
                    receiver = asyncio.create_task(self.ws.receive())
                await asyncio.wait({task, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done():
                    continue
                try:
                    msg = receiver.result()
                except Exception:  # noqa: BLE001 - a broken connection ends the session like a close
                    return False
                receiver = None
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return False
                # TEXT/BINARY after Terminate: ignored (no more audio is taken, no error is sent)
            task.result()  # re-raise a failure of the finishing work
            return True
        finally:
            # No receive() may stay pending: ws.close() would otherwise skip the closing handshake.
            pending = [t for t in (receiver, task) if t is not None and not t.done()]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
