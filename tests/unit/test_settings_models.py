"""The settings models (issue 14.5): the edge client's Settings and the local server's ServerConfig.
Wrong types are rejected, every bad key is listed with its value (and where it came from), precedence
holds, unknown keys fail."""

from __future__ import annotations

import json

import pytest

from edge_client.settings import Settings, SettingsError, field_kind, load_settings
from local_assemblyai import config as server_config

# ------------------------------------------------------------------------------------------------ edge client


@pytest.mark.parametrize("name,value", [
    ("max_tokens", "lots"), ("max_tokens", 1.5), ("max_tokens", True), ("sample_rate", "16k"),
    ("format_turns", "maybe"), ("connect_timeout", "soon"), ("retention_days", False), ("prompt", 42),
    ("reconnect_max_attempts", [1]),
])
def test_edge_wrong_types_are_rejected_with_key_value_and_source(tmp_path, name, value):
    with pytest.raises(SettingsError) as e:
        load_settings({name: value, "data_dir": str(tmp_path)}, env={})
    assert f"{name} = {value!r} (command line)" in str(e.value)


def test_edge_one_error_lists_every_bad_key_from_every_source(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('[edge_client]\nping_interval = "often"\nspeech_modle = "x"\nmax_tokens = true\n')
    env = {"EDGE_CLIENT_SOURCE_SPEED": "fast", "EDGE_CLIENT_LOG_LEVEL": "LOUD"}
    with pytest.raises(SettingsError) as e:
        load_settings({"topic_arn": "my-topic"}, env=env, config_file=str(cfg))
    msg = str(e.value)
    assert msg.startswith("invalid settings (6 problems):")
    for line in (f"ping_interval = 'often' (config file {cfg})", f"speech_modle = 'x' (config file {cfg}): "
                 "unknown settings key", f"max_tokens = True (config file {cfg})",
                 "source_speed = 'fast' (environment variable EDGE_CLIENT_SOURCE_SPEED)",
                 "log_level = 'LOUD' (environment variable EDGE_CLIENT_LOG_LEVEL)",
                 "topic_arn = 'my-topic' (command line)"):
        assert line in msg, msg


def test_edge_values_are_converted_from_strings_and_precedence_holds(tmp_path):
    cfg = tmp_path / "edge.json"
    cfg.write_text(json.dumps({"max_tokens": 100, "catchup_rate": 3, "format_turns": True, "model": "m-file"}))
    env = {"EDGE_CLIENT_MAX_TOKENS": "200", "EDGE_CLIENT_FORMAT_TURNS": "off", "EDGE_CLIENT_MODEL": "",
           "EDGE_CLIENT_CONFIG": str(cfg)}
    s = load_settings({"max_tokens": 300, "data_dir": str(tmp_path)}, env=env)
    assert (s.max_tokens, s.format_turns, s.model, s.catchup_rate) == (300, False, "m-file", 3.0)
    assert isinstance(s.catchup_rate, float)


def test_edge_checks_across_settings(tmp_path):
    with pytest.raises(SettingsError, match="ping_timeout < ping_interval"):
        load_settings({"ping_interval": 2.0, "ping_timeout": 3.0}, env={})
    with pytest.raises(SettingsError, match="source_speed must not exceed catchup_rate"):
        load_settings({"source_speed": 4.0, "catchup_rate": 2.0}, env={})


def test_edge_settings_built_directly_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGE_CLIENT_MAX_TOKENS", "77")
    s = Settings(data_dir=str(tmp_path))
    assert s.max_tokens == 77 and s.record_dir == str(tmp_path / "recordings") and s.agent_id
    assert (field_kind("max_tokens"), field_kind("device_rate"), field_kind("topic_arn")) == (int, int, str)


# ------------------------------------------------------------------------------------------------ local server


@pytest.mark.parametrize("data,line", [
    ({"webhook": {"max_attempts": "ten"}}, "webhook.max_attempts = 'ten'"),
    ({"concurrency": "two"}, "concurrency = 'two'"),
    ({"concurrency": True}, "concurrency = True"),
    ({"streaming": {"enforce_realtime": "maybe"}}, "streaming.enforce_realtime = 'maybe'"),
    ({"streaming": {"min_chunk_ms": [50]}}, "streaming.min_chunk_ms = [50]"),
    ({"api_keys": "k"}, "api_keys = 'k'"),
    ({"stt": {"beam_size": 2.5}}, "stt.beam_size = 2.5"),
])
def test_server_wrong_types_are_config_errors_naming_key_and_value(data, line):
    with pytest.raises(server_config.ConfigError) as e:
        server_config.from_dict(data)
    assert line in str(e.value)


def test_server_one_error_lists_every_problem():
    with pytest.raises(server_config.ConfigError) as e:
        server_config.from_dict({"concurrency": 0, "speech_model": "large-v3", "webhook": {"max_attempts": "ten"},
                                 "streaming": {"enforce_realtim": True}, "unknown_transcript_status": 500})
    msg = str(e.value)
    assert msg.startswith("invalid config (5 problems):")
    for part in ("concurrency = 0", "speech_model = 'large-v3'", "webhook.max_attempts = 'ten'",
                 "unknown config key streaming.enforce_realtim", "unknown_transcript_status = 500"):
        assert part in msg, msg


def test_server_file_environment_and_defaults(tmp_path, monkeypatch):
    path = tmp_path / "aai.json"
    path.write_text(json.dumps({"api_keys": ["k1"], "concurrency": 3, "streaming": {"enforce_realtime": True,
                                                                                   "min_chunk_ms": 20}}))
    monkeypatch.setenv("LOCAL_AAI_CONCURRENCY", "5")
    monkeypatch.setenv("LOCAL_AAI_STREAMING__ENFORCE_REALTIME", "false")
    monkeypatch.setenv("LOCAL_AAI_LOG_LEVEL", "DEBUG")  # the CLI's own variable, not a config key
    cfg = server_config.load(path)
    assert cfg.concurrency == 5 and cfg.api_keys == ["k1"]  # environment over file
    assert cfg.streaming.enforce_realtime is False and cfg.streaming.min_chunk_ms == 20.0  # merged per key
    assert cfg.streaming.max_chunk_ms == 1000.0 and cfg.webhook.max_attempts == 10  # defaults
    assert server_config.from_dict({}).concurrency == 2  # from_dict: only what it is given
    monkeypatch.setenv("LOCAL_AAI_CONCURRENCY", "many")
    with pytest.raises(server_config.ConfigError, match="environment variable LOCAL_AAI_CONCURRENCY"):
        server_config.load(path)


def test_server_runtime_updates_are_validated_too():
    cfg = server_config.from_dict({})
    with pytest.raises(server_config.ConfigError, match="webhook.max_attempts = 'ten'"):
        server_config.apply_runtime_update(cfg, {"webhook": {"max_attempts": "ten"}})
    updated = server_config.apply_runtime_update(cfg, {"streaming": {"enforce_realtime": False}})
    assert updated.streaming.enforce_realtime is False and cfg.streaming.enforce_realtime is True
    assert json.loads(json.dumps(updated.to_dict()))["streaming"]["enforce_realtime"] is False
