"""The STT result cache (local_assemblyai/stt.py: key = audio sha256 + engine settings + the request
options that change the engine's output), seen through GET /_local/stats."""

from __future__ import annotations

import uuid
import wave
from pathlib import Path

import numpy as np
import pytest

from .helpers import Api


@pytest.fixture
def api(server, clean_faults) -> Api:
    return Api(server.base_url, server.api_key)


def unique_clip(samples_dir: Path, out: Path, seconds: float = 4.0) -> Path:
    """The first seconds of a sample call (two short utterances), with one sample of the noise floor
    nudged by a random amount: audio no other test (or earlier run) can have put in the shared cache."""
    with wave.open(str(samples_dir / "fabrikam_billing_question" / "mono.wav")) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(int(rate * seconds)), dtype="<i2").copy()
    pcm[0] = np.int16(int(pcm[0]) + 1 + uuid.uuid4().int % 7)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out


def _events(admin) -> dict:
    ev = admin.stats()["events"]
    return {"decodes": ev.get("stt_decodes", 0), "hits": ev.get("stt_cache_hits", 0)}


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before}


def _words(t: dict) -> list[tuple]:
    return [(w["text"], w["start"], w["end"], w["confidence"]) for w in t["words"]]


def test_same_audio_is_a_cache_hit_and_key_options_are_misses(api, admin, samples_dir, tmp_path):
    clip = unique_clip(samples_dir, tmp_path / "clip.wav")

    def transcribe(**options) -> tuple[dict, dict]:
        before = _events(admin)
        t = api.transcribe(clip, **options)  # a new upload each time: the key is the audio's sha256
        assert t["status"] == "completed", t.get("error")
        return t, _delta(before, _events(admin))

    first, d1 = transcribe()
    assert d1 == {"decodes": 1, "hits": 0}
    assert first["words"], "the clip has speech, so an identical result is not trivially empty"

    second, d2 = transcribe()
    assert d2 == {"decodes": 0, "hits": 1}
    assert _words(second) == _words(first) and second["text"] == first["text"]
    assert second["id"] != first["id"]

    # speech_models is not part of the key (one local engine serves every model name): still a hit
    other_model, d3 = transcribe(speech_models=["universal-2"])
    assert d3 == {"decodes": 0, "hits": 1}
    assert other_model["speech_model_used"] == "universal-2" and _words(other_model) == _words(first)

    # keyterms_prompt (faster-whisper hotwords) and speaker_labels (diarization) are: each is a miss
    _, d4 = transcribe(keyterms_prompt=["Fabrikam"])
    assert d4 == {"decodes": 1, "hits": 0}
    labelled, d5 = transcribe(speaker_labels=True)
    assert d5 == {"decodes": 1, "hits": 0}
    assert labelled["utterances"] and all(w["speaker"] for w in labelled["words"])

    # ... and once decoded with those options, they hit too
    _, d6 = transcribe(speaker_labels=True)
    assert d6 == {"decodes": 0, "hits": 1}
