"""Validation of `POST /v2/transcript` bodies (TranscriptParams, `additionalProperties: false`)."""

from __future__ import annotations

from typing import Any

# Every field of the spec's TranscriptParams and of the 1.8.2 SDK's TranscriptRequest, by JSON type.
FIELD_TYPES: dict[str, str] = {
    "audio_url": "url", "language_code": "string", "language_codes": "string_list", "language_detection": "bool",
    "language_confidence_threshold": "number", "language_detection_options": "object",
    "language_confidence": "number", "language_detection_results": "object",
    "punctuate": "bool", "format_text": "bool", "disfluencies": "bool", "dual_channel": "bool",
    "multichannel": "bool", "audio_channels": "int", "speaker_labels": "bool", "speakers_expected": "int",
    "speaker_options": "object", "webhook_url": "url", "webhook_auth_header_name": "string",
    "webhook_auth_header_value": "string", "audio_start_from": "int", "audio_end_at": "int",
    "word_boost": "string_list", "boost_param": "string", "filter_profanity": "bool", "redact_pii": "bool",
    "redact_pii_audio": "bool", "redact_pii_audio_quality": "string", "redact_pii_audio_options": "object",
    "redact_pii_policies": "string_list", "redact_pii_sub": "string", "redact_pii_return_unredacted": "bool",
    "content_safety": "bool", "content_safety_confidence": "int", "iab_categories": "bool",
    "custom_spelling": "list", "sentiment_analysis": "bool", "auto_chapters": "bool", "entity_detection": "bool",
    "summarization": "bool", "summary_model": "string", "summary_type": "string", "auto_highlights": "bool",
    "speech_threshold": "number", "speech_model": "string", "speech_models": "string_list", "prompt": "string",
    "temperature": "number", "remove_audio_tags": "string", "keyterms_prompt": "string_list",
    "keyterms_prompt_options": "object", "speech_understanding": "object", "domain": "string",
}
_TYPE_WORDS = {"bool": "a Boolean", "int": "an Integer", "number": "a Number", "string": "a String",
               "string_list": "an Array of Strings", "object": "an Object", "list": "an Array", "url": "a valid URL"}


class ParamError(ValueError):
    """400 with `{"error": str(exc)}`."""


def _type_ok(kind: str, value: Any) -> bool:
    if value is None:
        return kind != "url"
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "string_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "url":
        return isinstance(value, str) and value.startswith(("http://", "https://"))
    return False


def validate_transcript_params(body: Any, require_speech_models: bool, allowed_models: list[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ParamError("Invalid request body: expected a JSON object")
    unknown = sorted(set(body) - set(FIELD_TYPES))
    if unknown:
        raise ParamError(f"Invalid request body: unknown field(s): {', '.join(unknown)}")
    if "audio_url" not in body:
        raise ParamError("audio_url is required")
    for name, value in body.items():
        if not _type_ok(FIELD_TYPES[name], value):
            raise ParamError(f"{name} must be {_TYPE_WORDS[FIELD_TYPES[name]]}")
    models = body.get("speech_models")
    if models is None and require_speech_models:
        raise ParamError("speech_models is required. Specify the speech model(s) to use, for example "
                         "\"speech_models\": [\"universal-3-pro\", \"universal-2\"]")
    if models is not None:
        if not models:
            raise ParamError("speech_models must contain at least one model")
        bad = [m for m in models if m not in allowed_models]
        if bad:
            raise ParamError(f"Invalid speech_models: {', '.join(bad)}. Supported: {', '.join(allowed_models)}")
    if body.get("prompt") and body.get("keyterms_prompt"):
        raise ParamError("prompt and keyterms_prompt cannot be used together")
    if body.get("speakers_expected") is not None and body["speakers_expected"] < 1:
        raise ParamError("speakers_expected must be a positive integer")
    if (body.get("webhook_auth_header_name") is None) != (body.get("webhook_auth_header_value") is None):
        raise ParamError("webhook_auth_header_name and webhook_auth_header_value must be set together")
    threshold = body.get("language_confidence_threshold")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ParamError("language_confidence_threshold must be between 0 and 1")
    return body
