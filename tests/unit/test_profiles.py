"""Profile validation, lookup order (S3 over bundled) and the choice of profile per upload."""

from __future__ import annotations

import json

import pytest
from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.errors import InvalidProfile
from call_analytics.logic.transcription_request import transcript_params
from call_analytics.profiles.loader import (
    ProfileLoader,
    bundled_profile_names,
    choose_profile_name,
    load_bundled,
)
from call_analytics.profiles.model import parse_profile


class FakeProfileStore:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_bytes(self, bucket, key):
        if key not in self.objects:
            raise ObjectMissing(key)
        return self.objects[key]


def test_bundled_profiles_are_valid_and_default_reproduces_the_seeds():
    assert {"default", "sales"} <= set(bundled_profile_names())
    default = load_bundled("default")
    assert default.analysis("phases").phases == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert len(default.analysis("sentiment").questions) == 5
    assert default.analysis("action_items").max_tokens == 1000
    assert default.transcription.speech_models == ["universal-3-pro", "universal-2"]


def test_invalid_profile_lists_every_problem():
    data = {"name": "bad", "llm": {"model": "", "transcript_format": "srt"},
            "analyses": {"phases": {"phases": ["Intro", "intro"]}, "sentiment": {"questions": []}},
            "transcription": {"redact_pii": True, "language_code": "en", "language_detection": True}}
    with pytest.raises(InvalidProfile) as info:
        parse_profile(data, source="s3://b/profiles/bad.json")
    message = str(info.value)
    for expected in ("s3://b/profiles/bad.json", "llm.model", "llm.transcript_format", "phase names must be unique",
                     "analyses.sentiment.questions", "either language_code or language_detection"):
        assert expected in message


def test_unknown_keys_and_non_objects_are_rejected():
    with pytest.raises(InvalidProfile, match="Extra inputs are not permitted"):
        parse_profile({"name": "x", "llm": {"model": "m"}, "analyses": {}, "colour": "red"}, source="t")
    with pytest.raises(InvalidProfile, match="expected a JSON object"):
        parse_profile(["x"], source="t")


def test_s3_profile_overrides_bundled_and_bad_json_is_reported():
    custom = json.loads((load_bundled("default").model_dump_json()))
    custom["analyses"]["phases"]["phases"] = ["Hello", "Problem", "Bye"]
    store = FakeProfileStore({"profiles/default.json": json.dumps(custom).encode(), "profiles/broken.json": b"{nope"})
    loader = ProfileLoader(store, "bucket", "profiles/")
    assert loader.load("default").analysis("phases").phases == ["Hello", "Problem", "Bye"]
    assert loader.load("sales").name == "sales"  # bundled fallback
    with pytest.raises(InvalidProfile, match="not valid JSON"):
        loader.load("broken")
    with pytest.raises(InvalidProfile, match="unknown profile 'nosuch'"):
        loader.load("nosuch")


def test_profile_name_must_match_its_file():
    store = FakeProfileStore(
        {"profiles/a.json": json.dumps({"name": "b", "llm": {"model": "m"}, "analyses": {}}).encode()}
    )
    with pytest.raises(InvalidProfile, match="declares name 'b'"):
        ProfileLoader(store, "bucket", "profiles/").load("a")


def test_choose_profile_metadata_then_key_segment_then_default():
    assert choose_profile_name("recordings/profile=sales/a.wav", {"profile": "vip"}, "default") == "vip"
    assert choose_profile_name("recordings/profile=sales/2026/a.wav", {}, "default") == "sales"
    assert choose_profile_name("recordings/a.wav", None, "default") == "default"
    with pytest.raises(InvalidProfile, match="invalid profile name"):
        choose_profile_name("recordings/profile=../etc/a.wav", {}, "default")


def test_transcription_params_for_mono_and_stereo():
    default = load_bundled("default")
    mono = transcript_params(default, audio_url="https://a", channels=1)
    assert mono["speaker_labels"] is True and "multichannel" not in mono
    assert mono["speech_models"] == ["universal-3-pro", "universal-2"] and mono["language_detection"] is True
    stereo = transcript_params(default, audio_url="https://a", channels=2)
    assert stereo["multichannel"] is True and "speaker_labels" not in stereo
    sales = transcript_params(load_bundled("sales"), audio_url="https://a", channels=None)
    assert sales["redact_pii"] is True and sales["redact_pii_policies"][0] == "person_name"
    assert sales["keyterms_prompt"] == ["Northwind Premium", "annual plan", "onboarding call"]
    assert sales["language_code"] == "en_us" and "language_detection" not in sales
