"""Audio sources (microphone or WAV file), the streaming resampler and the crash-safe WAV recorder.

Every source yields 50 ms frames of mono pcm_s16le at the streaming rate (16 kHz by default: 1600 bytes).
PyAudio is imported lazily so that file sources, tests and `--help` work on machines without PortAudio.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

FRAME_MS = 50
SAMPLE_WIDTH = 2  # pcm_s16le


def frame_samples(rate: int) -> int:
    return rate * FRAME_MS // 1000


class AudioError(Exception):
    """The audio device or file cannot be used (clear message for the operator)."""


class NoMicrophoneError(AudioError):
    pass


class BadDeviceError(AudioError):
    pass


class AudioSource(Protocol):
    """A source of 50 ms mono s16le frames at `rate`; `frames()` runs in the capture thread."""

    rate: int

    def frames(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------- resampling

def _lowpass_taps(cutoff: float, taps: int = 63) -> np.ndarray:
    """Windowed-sinc FIR low-pass; `cutoff` is a fraction of the input sample rate (0..0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    return (h / h.sum()).astype(np.float64)


class StreamingResampler:
    """Converts an int16 mono stream from `in_rate` to `out_rate`, chunk by chunk, without seams.

    Method: a 63-tap windowed-sinc low-pass at 0.45 x the output rate (anti-aliasing, only when
    down-sampling), then linear interpolation at fractional input positions. Filter history and the
    fractional read position carry over between chunks, so chunk boundaries are inaudible and the
    output length tracks `in_samples * out_rate / in_rate` exactly (no drift over a long call).
    """

    def __init__(self, in_rate: int, out_rate: int, taps: int = 63):
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.step = in_rate / out_rate  # input samples per output sample
        self._taps = _lowpass_taps(0.45 * out_rate / in_rate, taps) if out_rate < in_rate else None
        self._history = np.zeros((taps - 1) if self._taps is not None else 0)
        self._prev: float | None = None  # last filtered sample of the previous chunk
        self._consumed = 0  # input samples seen so far (absolute index of the next input sample)
        self._pos = 0.0  # absolute input position of the next output sample

    def process(self, pcm: bytes) -> bytes:
        if self.in_rate == self.out_rate:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if x.size == 0:
            return b""
        if self._taps is not None:
            buf = np.concatenate([self._history, x])
            y = np.convolve(buf, self._taps, mode="valid")
            self._history = buf[-(len(self._taps) - 1):]
        else:
            y = x
        base = self._consumed  # absolute index of y[0]
        if self._prev is not None:
            y = np.concatenate([[self._prev], y])
            base -= 1
        end = self._consumed + x.size - 1  # last absolute index available
        self._consumed += x.size
        self._prev = float(y[-1])
        if self._pos > end:
            return b""
        count = int(np.floor((end - self._pos) / self.step)) + 1
        t = self._pos + self.step * np.arange(count)
        self._pos = self._pos + self.step * count
        rel = t - base
        i0 = np.floor(rel).astype(np.int64)
        frac = rel - i0
        i1 = np.minimum(i0 + 1, y.size - 1)
        out = y[i0] * (1 - frac) + y[i1] * frac
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


class Reframer:
    """Cuts an arbitrary byte stream into exact frames of `frame_bytes`."""

    def __init__(self, frame_bytes: int):
        self.frame_bytes = frame_bytes
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        out = []
        while len(self._buf) >= self.frame_bytes:
            out.append(bytes(self._buf[: self.frame_bytes]))
            del self._buf[: self.frame_bytes]
        return out

    def flush_padded(self) -> bytes | None:
        """The remainder padded with zeros to a whole frame (the API rejects chunks under 50 ms)."""
        if not self._buf:
            return None
        data = bytes(self._buf) + b"\x00" * (self.frame_bytes - len(self._buf))
        self._buf.clear()
        return data


# ---------------------------------------------------------------------------------------------- file source

class WavFileSource:
    """Streams a WAV file as if it were a microphone, paced against absolute monotonic deadlines.

    `speed` 1.0 = real time (required by the real service), N = N x real time, 0 = unpaced.
    Non-16-bit files are rejected; other rates and stereo are converted (channels averaged).
    """

    def __init__(self, path: str | Path, rate: int = 16000, speed: float = 1.0):
        self.path = Path(path)
        self.rate = rate
        self.speed = speed
        self._closed = threading.Event()
        try:
            with wave.open(str(self.path), "rb") as w:
                self._channels, self._width, self._in_rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        except (OSError, wave.Error, EOFError) as exc:
            raise AudioError(f"cannot read WAV file {self.path}: {exc}") from exc
        if self._width != SAMPLE_WIDTH:
            raise AudioError(f"{self.path}: only 16-bit PCM WAV is supported (got {8 * self._width}-bit)")

    def close(self) -> None:
        self._closed.set()

    def frames(self) -> Iterator[bytes]:
        fbytes = frame_samples(self.rate) * SAMPLE_WIDTH
        reframer = Reframer(fbytes)
        resampler = StreamingResampler(self._in_rate, self.rate)
        period = (FRAME_MS / 1000) / self.speed if self.speed > 0 else 0.0
        start = time.monotonic()
        n = 0

        def paced(frame: bytes) -> bytes:
            nonlocal n
            if period:
                delay = start + n * period - time.monotonic()
                if delay > 0:  # late frames go at once: absolute deadlines, no drift
                    self._closed.wait(delay)
            n += 1
            return frame

        with wave.open(str(self.path), "rb") as w:
            while not self._closed.is_set():
                raw = w.readframes(frame_samples(self._in_rate))
                if not raw:
                    break
                if self._channels > 1:
                    a = np.frombuffer(raw, dtype="<i2").reshape(-1, self._channels).mean(axis=1)
                    raw = np.round(a).astype("<i2").tobytes()
                for frame in reframer.push(resampler.process(raw)):
                    if self._closed.is_set():
                        return
                    yield paced(frame)
        last = reframer.flush_padded()
        if last is not None and not self._closed.is_set():
            yield paced(last)


# ---------------------------------------------------------------------------------------------- microphone

@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    host_api: str
    channels: int
    default_rate: int
    is_default: bool


def _pyaudio():
    try:
        import pyaudio
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise AudioError("PyAudio is not installed (pip install pyaudio; on Linux first install "
                         "portaudio19-dev, see docs/edge-client.md)") from exc
    return pyaudio


@contextlib.contextmanager
def _quiet_native_stderr():
    """PortAudio's init prints dozens of harmless ALSA/JACK probe lines on stderr (C level); hide them
    unless EDGE_CLIENT_AUDIO_DEBUG is set."""
    if os.name != "posix" or os.environ.get("EDGE_CLIENT_AUDIO_DEBUG"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _open_pa(pyaudio):
    with _quiet_native_stderr():
        return pyaudio.PyAudio()


def _enumerate(pa) -> list[InputDevice]:
    try:
        default_index = pa.get_default_input_device_info()["index"]
    except OSError:
        default_index = None
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if int(info.get("maxInputChannels", 0)) < 1:
            continue
        api = pa.get_host_api_info_by_index(info["hostApi"])["name"]
        devices.append(InputDevice(i, info["name"], api, int(info["maxInputChannels"]),
                                   int(info["defaultSampleRate"]), i == default_index))
    return devices


def list_input_devices() -> list[InputDevice]:
    pyaudio = _pyaudio()
    pa = _open_pa(pyaudio)
    try:
        return _enumerate(pa)
    finally:
        pa.terminate()


def resolve_device(devices: list[InputDevice], wanted: str | None) -> InputDevice:
    """`wanted` = None (the system default), an index, or a case-insensitive part of the name."""
    if not devices:
        raise NoMicrophoneError("no microphone found: the audio system lists no input device. Plug in "
                                "a headset or enable the microphone, then check with --list-devices.")
    if wanted is None or wanted == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if wanted.strip().isdigit():
        for d in devices:
            if d.index == int(wanted):
                return d
    else:
        matches = [d for d in devices if wanted.lower() in d.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(f"{d.index}: {d.name}" for d in matches)
            raise BadDeviceError(f"--device {wanted!r} matches several inputs ({names}); use the index")
    names = "; ".join(f"{d.index}: {d.name}" for d in devices)
    raise BadDeviceError(f"input device {wanted!r} not found. Available inputs: {names} (see --list-devices)")


class MicSource:
    """Blocking PyAudio reads in the capture thread; resampled to `rate` if the device cannot do it.

    PortAudio is opened and closed by the reading thread itself: `close()` only sets a flag, because
    closing a stream another thread is blocked reading is unsafe. A read returns every 50 ms, so the
    flag is seen promptly.
    """

    def __init__(self, device: str | None = None, rate: int = 16000, device_rate: int | None = None):
        self.rate = rate
        self.device_spec = device
        self.device_rate = device_rate
        self._closed = threading.Event()
        self.device: InputDevice | None = None
        self.capture_rate: int | None = None
        self._pa = None

    def probe(self) -> InputDevice:
        """Resolve and check the device up front (main thread, before the call starts), so errors are
        reported at once. Keeps PortAudio initialised for the capture thread: the init noise is hidden
        by redirecting fd 2, which is only safe while no other thread is logging."""
        pyaudio = _pyaudio()
        self._pa = _open_pa(pyaudio)
        try:
            self.device = resolve_device(_enumerate(self._pa), self.device_spec)
        except AudioError:
            self._pa.terminate()
            self._pa = None
            raise
        return self.device

    def close(self) -> None:
        self._closed.set()

    def _pick_rate(self, pa, pyaudio, dev: InputDevice) -> int:
        candidates = [self.device_rate] if self.device_rate else [self.rate, dev.default_rate, 48000, 44100]
        for r in candidates:
            try:
                if pa.is_format_supported(r, input_device=dev.index, input_channels=1,
                                          input_format=pyaudio.paInt16):
                    return int(r)
            except ValueError:
                continue
        raise BadDeviceError(f"input device {dev.index} ({dev.name}) supports none of the rates {candidates}")

    def frames(self) -> Iterator[bytes]:
        pyaudio = _pyaudio()
        if self._pa is None:
            self.probe()
        pa, dev = self._pa, self.device
        self._pa = None
        stream = None
        try:
            self.capture_rate = self._pick_rate(pa, pyaudio, dev)
            block = frame_samples(self.capture_rate)
            try:
                stream = pa.open(format=pyaudio.paInt16, channels=1, rate=self.capture_rate, input=True,
                                 input_device_index=dev.index, frames_per_buffer=block)
            except OSError as exc:
                raise BadDeviceError(f"cannot open input device {dev.index} ({dev.name}): {exc}") from exc
            log.info("microphone open: %d %r at %d Hz (streaming at %d Hz%s)", dev.index, dev.name,
                     self.capture_rate, self.rate, ", resampled" if self.capture_rate != self.rate else "")
            resampler = StreamingResampler(self.capture_rate, self.rate)
            reframer = Reframer(frame_samples(self.rate) * SAMPLE_WIDTH)
            while not self._closed.is_set():
                data = stream.read(block, exception_on_overflow=False)
                yield from reframer.push(resampler.process(data))
        finally:
            if stream is not None:
                try:
                    stream.stop_stream()
                    stream.close()
                except OSError:
                    pass
            pa.terminate()


# ---------------------------------------------------------------------------------------------- recording

class WavRecorder:
    """Streams the call to a WAV file on disk as it is captured; the file is valid at every moment.

    The file is opened unbuffered and `wave.Wave_write.writeframes` re-patches the RIFF/data sizes
    after each write, so a crash (even SIGKILL) leaves a valid WAV holding everything written so far.
    """

    def __init__(self, path: Path, rate: int):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # private to the user (0600): a call recording is personal data
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
        self._fh = os.fdopen(fd, "wb", buffering=0)
        self._w = wave.open(self._fh, "wb")  # noqa: SIM115 - closed in close()
        self._w.setnchannels(1)
        self._w.setsampwidth(SAMPLE_WIDTH)
        self._w.setframerate(rate)
        self._w.writeframes(b"")  # header on disk from the first moment
        self.frames_written = 0
        self._lock = threading.Lock()

    def write(self, frame: bytes) -> None:
        with self._lock:
            self._w.writeframes(frame)
            self.frames_written += 1

    def close(self) -> None:
        with self._lock:
            try:
                self._w.close()
            finally:
                self._fh.close()
