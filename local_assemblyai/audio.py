"""Decode any media file PyAV (faster-whisper's decoder) understands into 16 kHz float32 channels."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

SAMPLE_RATE = 16000
MIN_DURATION_SECONDS = 0.16  # the real service rejects shorter audio


class AudioError(Exception):
    """The input cannot be transcribed; `str(exc)` is the user-facing transcript error."""


@dataclass(frozen=True)
class DecodedAudio:
    channels: np.ndarray  # shape (n_channels, n_samples), float32 in [-1, 1], 16 kHz

    @property
    def n_channels(self) -> int:
        return int(self.channels.shape[0])

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / SAMPLE_RATE

    def mono(self) -> np.ndarray:
        return self.channels.mean(axis=0).astype(np.float32)


def sniff_file_type(data: bytes) -> str:
    """A `file`-style description used in the "does not appear to contain audio" message."""
    head = data[:512]
    lowered = head.lstrip().lower()
    if head.startswith(b"%PDF"):
        return "application/pdf (PDF document)"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip (Zip archive data)"
    if head.startswith(b"\x89PNG"):
        return "image/png (PNG image data)"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg (JPEG image data)"
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "text/html (HTML document, ASCII text)"
    if lowered.startswith((b"{", b"[")):
        return "application/json (JSON text data)"
    try:
        head.decode("utf-8")
        return "text/plain (ASCII text)" if head.isascii() else "text/plain (Unicode text, UTF-8 text)"
    except UnicodeDecodeError:
        return "application/octet-stream (data)"


def decode(path: str) -> DecodedAudio:
    """Decode all channels, resampled to 16 kHz. Raises AudioError with the service's messages."""
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(_not_audio_message(path)) from exc
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(_not_audio_message(path))
        stream = streams[0]
        layout = stream.layout.name if stream.layout else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except (av.error.FFmpegError, ValueError) as exc:
            if not chunks:
                raise AudioError(_not_audio_message(path)) from exc
            # A truncated tail: keep what decoded, as ffmpeg-based services do.
    if not chunks:
        raise AudioError("Audio duration is too short.")
    channels = np.concatenate(chunks, axis=1).astype(np.float32)
    audio = DecodedAudio(channels)
    if audio.duration < MIN_DURATION_SECONDS:
        raise AudioError("Audio duration is too short.")
    return audio


def _not_audio_message(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(512)
    return f"File does not appear to contain audio. File type is {sniff_file_type(head)}."
