"""The deployment parameters: cdk.json defaults, -c coercion, validation with clear errors."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, StackConfig, load_config


def test_cdk_json_runs_the_app_and_mirrors_the_model_defaults(cdk_json):
    assert cdk_json["app"] == "python3 app.py"
    params = {k: v for k, v in cdk_json["context"].items() if k in StackConfig.model_fields}
    assert set(params) == set(StackConfig.model_fields)  # every parameter is documented there
    assert load_config(params) == StackConfig()


def test_feature_flags_are_set(cdk_json):
    # with BUCKET_OWNER_ENFORCED the access-log bucket must be granted by policy, not ACL
    assert cdk_json["context"]["@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"] is True


def test_cli_strings_are_coerced():
    cfg = load_config({"poll_initial_seconds": "5", "poll_backoff": "2.5", "start_call_reserved_concurrency": "null",
                       "assemblyai_api_base_url": "http://127.0.0.1:9000/", "default_profile": "sales"})
    assert cfg.poll_initial_seconds == 5 and cfg.poll_backoff == 2.5
    assert cfg.start_call_reserved_concurrency is None
    assert cfg.api_base_url == "http://127.0.0.1:9000"
    assert cfg.llm_base_url == "https://llm-gateway.assemblyai.com/v1"


def test_region_selects_base_urls():
    eu = load_config({"assemblyai_region": "eu"})
    assert (eu.api_base_url, eu.llm_base_url) == ("https://api.eu.assemblyai.com",
                                                  "https://llm-gateway.eu.assemblyai.com/v1")


def test_retired_suffix_keys_are_ignored_and_the_accepted_types_are_the_shared_list():
    # issue 10: suffix filters are case-sensitive and skipped `.Mp3` silently; start_call now sees every upload
    from infra.config import RETIRED_KEYS
    from infra.names import AUDIO_SUFFIXES

    cfg = load_config({"recording_suffixes": ".wav,.MP3", "suffix_case_variants": "false"})
    assert cfg == StackConfig() and not set(RETIRED_KEYS) & set(StackConfig.model_fields)
    assert cfg.trigger_suffixes == AUDIO_SUFFIXES and {".aiff", ".aif", ".wav", ".mp3"} <= set(AUDIO_SUFFIXES)


def test_prefix_is_normalised():
    assert load_config({"recordings_prefix": "/uploads"}).recordings_prefix == "uploads/"


def test_execution_timeout_defaults_behind_every_waiting_budget():
    cfg = StackConfig(transcription_timeout_seconds=600, slot_wait_budget_seconds=7200,
                      analysis_wait_budget_seconds=1800)
    assert cfg.execution_timeout == 7200 + 600 + 1800 + 3600
    assert cfg.execution_timeout > cfg.waiting_budget


def test_limit_parameters_are_read_from_context():
    cfg = load_config({"transcription_concurrency": "200", "llm_requests_per_minute": "28",
                       "slot_wait_budget_seconds": "3600", "analysis_wait_budget_seconds": "600",
                       "slot_wait_max_seconds": "30", "poll_expected_rtf": "0.25"})
    assert (cfg.transcription_concurrency, cfg.llm_requests_per_minute, cfg.slot_wait_budget_seconds,
            cfg.analysis_wait_budget_seconds, cfg.slot_wait_max_seconds, cfg.poll_expected_rtf) == (
        200, 28, 3600, 600, 30, 0.25)


@pytest.mark.parametrize("value, parsed", [
    ("28", 28),  # -c llm_requests_per_minute=28
    ('{"gpt-4.1": 60, "*": 30}', {"gpt-4.1": 60, "*": 30}),  # -c llm_requests_per_minute='{...}'
    ({"claude-sonnet-4-5-20250929": 30, " gpt-4.1 ": 60}, {"claude-sonnet-4-5-20250929": 30, "gpt-4.1": 60}),
])
def test_llm_requests_per_minute_is_an_int_or_a_per_model_map(value, parsed):
    assert load_config({"llm_requests_per_minute": value}).llm_requests_per_minute == parsed


@pytest.mark.parametrize("context,fragment", [
    ({"assemblyai_region": "ap"}, "assemblyai_region"),
    ({"recordings_prefix": "results/"}, "reserved prefix"),
    ({"recordings_prefix": ""}, "must not be empty"),
    ({"poll_initial_seconds": 30, "poll_max_seconds": 10}, "poll_max_seconds"),
    ({"execution_timeout_seconds": 3600, "transcription_timeout_seconds": 3600}, "execution_timeout_seconds"),
    ({"execution_timeout_seconds": 20000, "transcription_timeout_seconds": 3600, "slot_wait_budget_seconds": 16000},
     "slot_wait_budget_seconds"),
    ({"transcription_concurrency": 0}, "transcription_concurrency"),
    ({"llm_requests_per_minute": 0}, "llm_requests_per_minute"),
    ({"llm_requests_per_minute": "lots"}, "neither an integer nor a map"),
    ({"llm_requests_per_minute": {}}, "map is empty"),
    ({"llm_requests_per_minute": {"gpt-4.1": 0}}, "model 'gpt-4.1': 0 is not between 1 and 100000"),
    ({"llm_requests_per_minute": '{"gpt-4.1": "60"}'}, "model 'gpt-4.1': '60' is not an integer"),
    ({"llm_requests_per_minute": {"": 5}}, "is not a model name"),
    ({"analysis_wait_budget_seconds": 10}, "analysis_wait_budget_seconds"),
    ({"log_retention_days": 31}, "log_retention_days"),
    ({"analysis_max_concurrency": 0}, "analysis_max_concurrency"),
    ({"assemblyai_api_base_url": "ftp://x"}, "not an http(s) URL"),
    ({"default_profile": "Sales Team"}, "default_profile"),
    ({"audio_delivery": "stream"}, "audio_delivery"),
    ({"stack_name": "1stack"}, "stack_name"),
])
def test_invalid_context_is_rejected_clearly(context, fragment):
    with pytest.raises(ConfigError, match="invalid CDK context") as exc:
        load_config(context)
    assert fragment in str(exc.value)


def test_unknown_keys_are_not_parameters():
    # feature flags and CDK's own keys pass through untouched
    assert load_config({"@aws-cdk/core:foo": True, "aws:cdk:bundling-stacks": []}) == StackConfig()
