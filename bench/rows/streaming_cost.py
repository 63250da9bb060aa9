"""Row: the local server's streaming cost over a long session (issue 14, part 6).

One Streaming v3 session of `--streaming-seconds` (default 60 minutes; smoke 2): the same minute of the
sample calls over and over, sent in 50 ms frames at the edge client's catch-up rate (2x real time) to the
local server started with `enforce_realtime: false`. The server's CPU time (psutil, all threads) is read at
every minute of audio sent: CPU per audio second of minute k = CPU used while minute k was sent / 60 s. A
session whose cost grows with its length shows as last/first > 1; a flat one stays near 1. The server's RSS
at the first and the last minute is reported too (the audio kept per session).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import wave
from collections.abc import Iterator
from urllib.parse import urlencode

from bench.aai import API_KEY, start_server
from bench.core import Context, Row, Unavailable
from bench.corpus import sample_calls

TITLE = "local server streaming CPU per audio second, first vs last minute"
IN_SMOKE = True
FRAME_BYTES = 1600            # 50 ms of 16 kHz PCM16, the edge client's chunk
FRAME_S = 0.05
CATCHUP_RATE = 2.0            # the edge client's default catch-up pacing
DEFAULT_SECONDS = 3600.0
SMOKE_SECONDS = 120.0
MINUTE_S = 60.0


def _minute_of_speech(ctx: Context) -> bytes:
    """60 s of PCM: the sample calls back to back, cut after the last utterance that ends by 59 s, padded
    with silence. Every minute of the session is this same minute, so the decoding work per minute is the
    same and only a cost that grows with the session length can change the figure."""
    pcm, ends, offset = [], [], 0.0
    for call in sample_calls(ctx):
        with wave.open(str(call.mono)) as r:
            if (r.getframerate(), r.getnchannels(), r.getsampwidth()) != (16000, 1, 2):
                raise Unavailable(f"{call.mono} is not 16 kHz mono PCM16")
            pcm.append(r.readframes(r.getnframes()))
            ends += [offset + u["end"] for u in call.truth["utterances"]]
            offset += r.getnframes() / 16000
    cut = max((e for e in ends if e <= MINUTE_S - 1.0), default=MINUTE_S - 1.0) + 0.5
    speech = b"".join(pcm)[: int(cut * 16000) * 2]
    return speech + b"\x00" * (int(MINUTE_S * 16000) * 2 - len(speech))


def _frames(minute: bytes, minutes: int) -> Iterator[bytes]:
    for _ in range(minutes):
        for off in range(0, len(minute), FRAME_BYTES):
            yield minute[off:off + FRAME_BYTES]


class _Receiver(threading.Thread):
    """Reads every server message until the socket closes; counts final turns, keeps Termination."""

    def __init__(self, ws) -> None:
        super().__init__(name="streaming-cost-recv", daemon=True)
        self.ws = ws
        self.final_turns = 0
        self.termination: dict | None = None
        self.error: str | None = None

    def run(self) -> None:
        import websocket

        try:
            while True:
                msg = json.loads(self.ws.recv())
                if msg.get("type") == "Turn" and msg.get("end_of_turn") and msg.get("turn_is_formatted"):
                    self.final_turns += 1
                elif msg.get("type") == "Termination":
                    self.termination = msg
                elif msg.get("type") == "Error":
                    self.error = f"{msg.get('error_code')}: {msg.get('error')}"
        except (websocket.WebSocketConnectionClosedException, OSError, ValueError):
            return


def run(ctx: Context) -> list[Row]:
    try:
        import psutil
        import websocket
    except ImportError as exc:
        raise Unavailable(f"needs psutil and websocket-client ({exc})") from None
    seconds = getattr(ctx.options, "streaming_seconds", None) or (SMOKE_SECONDS if ctx.smoke else DEFAULT_SECONDS)
    minutes = int(seconds // MINUTE_S)
    if minutes < 2:
        raise Unavailable("needs at least 2 minutes of audio (--streaming-seconds >= 120)")
    frames = _frames(_minute_of_speech(ctx), minutes)  # before the server starts: not in minute 1
    server = start_server(ctx.work_dir / "streaming-cost", {"streaming": {"enforce_realtime": False}})
    try:
        proc = psutil.Process(server.proc.pid)
        params = {"sample_rate": 16000, "encoding": "pcm_s16le", "speech_model": "u3-rt-pro", "format_turns": "true"}
        ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/v3/ws?{urlencode(params)}",
                                         header={"Authorization": API_KEY}, timeout=60)
        receiver = _Receiver(ws)
        receiver.start()
        ctx.log(f"streaming cost: {minutes} min of audio at {CATCHUP_RATE:g}x real time")

        def cpu() -> float:
            t = proc.cpu_times()
            return t.user + t.system

        per_minute: list[float] = []   # server CPU seconds per audio second, minute by minute
        rss: list[float] = []
        frames_per_minute = int(MINUTE_S / FRAME_S)
        interval = FRAME_S / CATCHUP_RATE
        start, cpu_mark, sent = time.monotonic(), cpu(), 0
        for frame in frames:
            wait = start + sent * interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            ws.send_binary(frame)
            sent += 1
            if sent % frames_per_minute == 0:
                now_cpu = cpu()
                per_minute.append((now_cpu - cpu_mark) / MINUTE_S)
                cpu_mark = now_cpu
                rss.append(proc.memory_info().rss / 1024 / 1024)
                behind = time.monotonic() - (start + sent * interval)
                ctx.log(f"  minute {len(per_minute)}: {per_minute[-1] * 1000:.1f} ms CPU per audio s, "
                        f"RSS {rss[-1]:.0f} MiB, {behind:+.1f} s behind the pacing, "
                        f"{receiver.final_turns} final turns")
        ws.send(json.dumps({"type": "Terminate"}))
        receiver.join(timeout=180)
        try:
            ws.close()
        except (websocket.WebSocketException, OSError):
            pass
        wall = time.monotonic() - start
    finally:
        server.stop()
    if not per_minute:
        raise Unavailable(f"no minute was streamed; see {server.log_path}")
    ending = "" if receiver.termination is not None and not receiver.error else \
        f"; the session did not end normally ({receiver.error or 'no Termination'}, see {server.log_path})"
    first, last = per_minute[0], per_minute[-1]
    middle = per_minute[1:-1] or per_minute
    series = ", ".join(f"{v * 1000:.0f}" for v in per_minute)
    note = (f"{minutes} min session at {CATCHUP_RATE:g}x real time ({wall:.0f} s wall), "
            f"{receiver.final_turns} final turns; baseline column = minute 1, ours = minute {minutes}, "
            f"ratio = last/first; minutes 2..{minutes - 1}: median {statistics.median(middle) * 1000:.0f}, "
            f"max {max(middle) * 1000:.0f} ms/s; per minute (ms/s): {series}{ending}")
    k = min(5, minutes // 2)  # single minutes are noisy on a shared machine (decode timing moves turn ends)
    head, tail = statistics.median(per_minute[:k]) * 1000, statistics.median(per_minute[-k:]) * 1000
    return [
        Row(f"server CPU per audio second, minute 1 vs minute {minutes}", first * 1000, last * 1000, "ms/s",
            note, digits=1),
        Row(f"server CPU per audio second, median of minutes 1-{k} vs {minutes - k + 1}-{minutes}", head, tail,
            "ms/s", "the same comparison, less sensitive to one noisy minute", digits=1),
        Row(f"server RSS, minute 1 vs minute {minutes}", rss[0], rss[-1], "MiB",
            "the audio a streaming session keeps (16 kHz float32 = 3.7 MiB per minute if it keeps everything)",
            digits=0),
    ]
