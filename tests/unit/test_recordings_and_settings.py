"""S3 key decoding, call ids, which objects are recordings, channel probing, env-var settings."""

from __future__ import annotations

import struct

import pytest
from call_analytics.audio_probe import channels_from_header, channels_from_metadata
from call_analytics.recordings import (
    UploadedObject,
    call_id_for,
    decode_key,
    skip_reason,
)
from call_analytics.settings import (
    HANDLER_SETTINGS,
    CheckTranscriptSettings,
    RunAnalysisSettings,
    SettingsError,
    StartCallSettings,
    load_settings,
)


@pytest.mark.parametrize("raw, decoded", [
    ("recordings/my+call+2026.wav", "recordings/my call 2026.wav"),
    ("recordings/a%2Bb.wav", "recordings/a+b.wav"),
    ("recordings/caf%C3%A9+%E2%98%8E.mp3", "recordings/café ☎.mp3"),
    ("recordings/team%2Fx.wav", "recordings/team/x.wav"),
    ("recordings/profile%3Dsales/c.wav", "recordings/profile=sales/c.wav"),
])
def test_decode_key(raw, decoded):
    assert decode_key(raw) == decoded


def test_call_id_is_deterministic_and_version_sensitive():
    a = call_id_for("b", "recordings/x.wav", "v1", "etag")
    assert a == call_id_for("b", "recordings/x.wav", "v1", "other-etag")  # version wins over etag
    assert a != call_id_for("b", "recordings/x.wav", "v2", "etag")
    assert call_id_for("b", "k.wav", None, '"abc"') == call_id_for("b", "k.wav", None, "abc")
    assert a.startswith("c-") and len(a) == 22


@pytest.mark.parametrize("key, size, event, expected", [
    ("recordings/x.wav", 10, "ObjectCreated:Put", None),
    ("recordings/sub/", 0, "ObjectCreated:Put", "folder marker"),
    # not skipped: start_call records these FAILED (recordings.refusal_reason), so no upload goes unanswered
    ("recordings/notes.txt", 10, "ObjectCreated:Put", None),
    ("results/c-1/transcript.json", 10, "ObjectCreated:Put", "results/profiles object, not a recording"),
    ("recordings/x.WAV", 0, "ObjectCreated:Put", None),
    ("recordings/x.wav", 10, "ObjectRemoved:Delete", "event ObjectRemoved:Delete is not an upload"),
])
def test_skip_reasons(key, size, event, expected):
    obj = UploadedObject(bucket="rec", key=key, version_id=None, etag="e", size=size, event_name=event)
    assert skip_reason(obj, recordings_bucket="rec", ignored_prefixes=("results/", "profiles/")) == expected


def wav_header(channels: int, extra_chunk: bool = False) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, 8000, 8000 * 2 * channels, 2 * channels, 16)
    chunks = (b"LIST" + struct.pack("<I", 3) + b"abc\x00") if extra_chunk else b""
    chunks += b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_channels_from_wav_and_flac_headers():
    assert channels_from_header(wav_header(1)) == 1
    assert channels_from_header(wav_header(2, extra_chunk=True)) == 2
    streaminfo = bytearray(34)
    streaminfo[12] = (1 << 1)  # channels - 1 = 1 -> stereo
    assert channels_from_header(b"fLaC" + bytes([0, 0, 0, 34]) + bytes(streaminfo)) == 2
    assert channels_from_header(b"ID3\x04rest of an mp3") is None
    assert channels_from_metadata({"channels": "2"}) == 2 and channels_from_metadata({"channels": "x"}) is None


def test_settings_validate_env(monkeypatch):
    monkeypatch.setenv("CALLS_TABLE", "calls")
    monkeypatch.setenv("ASSEMBLYAI_SECRET_ARN", "arn:secret")
    monkeypatch.setenv("POLL_BACKOFF", "0.5")
    with pytest.raises(SettingsError, match="POLL_BACKOFF"):
        load_settings(CheckTranscriptSettings)
    monkeypatch.setenv("POLL_BACKOFF", "2")
    load_settings.cache_clear()
    settings = load_settings(CheckTranscriptSettings)
    assert settings.POLL_BACKOFF == 2 and settings.ASSEMBLYAI_API_BASE_URL == "https://api.assemblyai.com"
    assert load_settings(CheckTranscriptSettings) is settings  # cached


def test_start_call_settings_list_missing_vars_and_normalise_prefixes(monkeypatch):
    for name in ("CALLS_TABLE", "IDEMPOTENCY_TABLE", "STATE_MACHINE_ARN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError) as info:
        load_settings(StartCallSettings)
    assert "IDEMPOTENCY_TABLE" in str(info.value) and "STATE_MACHINE_ARN" in str(info.value)
    settings = StartCallSettings.model_validate({
        "CALLS_TABLE": "c", "IDEMPOTENCY_TABLE": "i", "RECORDINGS_BUCKET": "b", "STATE_MACHINE_ARN": "s",
        "RESULTS_TOPIC_ARN": "t", "ASSEMBLYAI_SECRET_ARN": "a", "RESULTS_PREFIX": "results", "PROFILES_PREFIX": "/p/"})
    assert settings.RESULTS_PREFIX == "results/" and settings.PROFILES_PREFIX == "p/"


RUN_ANALYSIS_ENV = {"CALLS_TABLE": "c", "LIMITS_TABLE": "l", "RECORDINGS_BUCKET": "b", "ASSEMBLYAI_SECRET_ARN": "a"}


@pytest.mark.parametrize("raw, parsed, limits", [
    (None, 30, {"m-a": 30, "m-b": 30}),  # unset: the paid plans' 30 for every model
    ("12", 12, {"m-a": 12, "m-b": 12}),  # an int: the same limit for every model (as before)
    (' {"m-a": 5, "m-b": 60} ', {"m-a": 5, "m-b": 60}, {"m-a": 5, "m-b": 60, "m-c": 30}),  # unnamed: 30
    ('{"m-a": 5, "*": 8}', {"m-a": 5, "*": 8}, {"m-a": 5, "m-b": 8, "m-c": 8}),  # unnamed: "*"
])
def test_llm_requests_per_minute_is_an_int_or_a_per_model_map(monkeypatch, raw, parsed, limits):
    for name, value in RUN_ANALYSIS_ENV.items():
        monkeypatch.setenv(name, value)
    if raw is None:
        monkeypatch.delenv("LLM_REQUESTS_PER_MINUTE", raising=False)
    else:
        monkeypatch.setenv("LLM_REQUESTS_PER_MINUTE", raw)
    load_settings.cache_clear()
    settings = load_settings(RunAnalysisSettings)
    assert settings.LLM_REQUESTS_PER_MINUTE == parsed
    assert {model: settings.llm_requests_per_minute(model) for model in limits} == limits


@pytest.mark.parametrize("raw, fragment", [
    ("0", "0 is not between 1 and 100000"),
    ("many", "neither an integer nor a JSON object"),
    ("{}", "map is empty"),
    ('{"m-a": 0}', "model 'm-a': 0 is not between"),
    ('{"m-a": 100001}', "model 'm-a': 100001 is not between"),
    ('{"m-a": "5"}', "model 'm-a': '5' is not an integer"),
    ('{"m-a": true}', "model 'm-a': True is not an integer"),
    ('{"m-a": 5.5}', "model 'm-a': 5.5 is not an integer"),
    ('{" ": 5}', "is not a model name"),
    ('{"m-a": 5', "not valid JSON"),
    ("[5]", "neither an integer nor a JSON object"),
])
def test_invalid_llm_requests_per_minute_fails_at_settings_load(monkeypatch, raw, fragment):
    for name, value in RUN_ANALYSIS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LLM_REQUESTS_PER_MINUTE", raw)
    load_settings.cache_clear()
    with pytest.raises(SettingsError, match="LLM_REQUESTS_PER_MINUTE") as info:
        load_settings(RunAnalysisSettings)
    assert fragment in str(info.value)


def test_every_handler_has_the_contract_env_vars():
    expected = {
        "start_call": {"CALLS_TABLE", "IDEMPOTENCY_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                       "DEFAULT_PROFILE", "STATE_MACHINE_ARN", "RESULTS_TOPIC_ARN"},
        "submit_transcription": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX",
                                 "PROFILES_PREFIX", "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL",
                                 "AUDIO_DELIVERY", "PRESIGN_TTL_SECONDS", "POLL_INITIAL_SECONDS", "POLL_EXPECTED_RTF",
                                 "TRANSCRIPTION_CONCURRENCY", "SLOT_WAIT_MAX_SECONDS", "SLOT_WAIT_BUDGET_SECONDS",
                                 "TRANSCRIPTION_TIMEOUT_SECONDS", "OUTAGE_BUDGET_SECONDS"},
        "check_transcript": {"CALLS_TABLE", "LIMITS_TABLE", "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL",
                             "POLL_INITIAL_SECONDS", "POLL_EXPECTED_RTF", "POLL_MAX_SECONDS", "POLL_BACKOFF",
                             "TRANSCRIPTION_TIMEOUT_SECONDS", "OUTAGE_BUDGET_SECONDS"},
        "fetch_transcript": {"CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                             "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL", "OUTAGE_BUDGET_SECONDS"},
        "run_analysis": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                         "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_LLM_BASE_URL", "LLM_REQUESTS_PER_MINUTE",
                         "ANALYSIS_WAIT_BUDGET_SECONDS", "OUTAGE_BUDGET_SECONDS"},
        "finalize_call": {"CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "RESULTS_TOPIC_ARN"},
        "record_failure": {"CALLS_TABLE", "LIMITS_TABLE", "RESULTS_TOPIC_ARN"},
        "dead_letters": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                         "RESULTS_TOPIC_ARN", "STATE_MACHINE_ARN"},
        "store_live_insight": {"CALLS_TABLE"},
    }
    assert set(expected) == set(HANDLER_SETTINGS)
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    for handler, names in expected.items():
        assert set(HANDLER_SETTINGS[handler].model_fields) == names | powertools, handler
