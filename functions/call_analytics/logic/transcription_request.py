"""The POST /v2/transcript body for a profile and a recording."""

from __future__ import annotations

from typing import Any

from call_analytics.profiles.model import Profile


def wants_multichannel(profile: Profile, channels: int | None) -> bool:
    setting = profile.transcription.multichannel
    if isinstance(setting, bool):
        return setting
    return channels is not None and channels >= 2  # "auto": stereo -> one transcript track per channel


def transcript_params(profile: Profile, *, audio_url: str, channels: int | None) -> dict[str, Any]:
    t = profile.transcription
    params: dict[str, Any] = {
        "audio_url": audio_url,
        "speech_models": list(t.speech_models),
        "punctuate": t.punctuate,
        "format_text": t.format_text,
    }
    if wants_multichannel(profile, channels):
        params["multichannel"] = True  # channels already separate the speakers
    elif t.speaker_labels:
        params["speaker_labels"] = True
        if t.speakers_expected:
            params["speakers_expected"] = t.speakers_expected
        if profile.roles.mono == "speaker_identification":
            # AssemblyAI labels the speakers with the role names (conversation/roles.py reads them back)
            params["speech_understanding"] = {"request": {"speaker_identification": {
                "speaker_type": "role", "known_values": [r.capitalize() for r in profile.roles.names]}}}
    if t.sentiment_analysis:
        params["sentiment_analysis"] = True
    if t.language_code:
        params["language_code"] = t.language_code
    elif t.language_detection:
        params["language_detection"] = True
        if t.language_confidence_threshold is not None:
            params["language_confidence_threshold"] = t.language_confidence_threshold
        if t.expected_languages:
            params["language_detection_options"] = {"expected_languages": list(t.expected_languages)}
    if t.keyterms_prompt:
        params["keyterms_prompt"] = list(t.keyterms_prompt)
    if t.redact_pii:
        params["redact_pii"] = True
        params["redact_pii_policies"] = list(t.redact_pii_policies)
        if t.redact_pii_sub:
            params["redact_pii_sub"] = t.redact_pii_sub
        if t.redact_pii_audio:
            params["redact_pii_audio"] = True
    return params
