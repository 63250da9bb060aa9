"""All settings in one pydantic-settings model. Precedence: command line > environment (EDGE_CLIENT_*) >
config file (--config, TOML or JSON) > defaults. Types and values are checked together: one error lists
every bad key with its value and its source. The API key is not a setting: see `keys.py`."""

from __future__ import annotations

import json
import os
import platform
import socket
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

ENV_PREFIX = "EDGE_CLIENT_"
API_URLS = {"us": "wss://streaming.assemblyai.com", "eu": "wss://streaming.eu.assemblyai.com"}
DEFAULT_PROMPT = ("You assist a call-center agent. In one short sentence, say what the speaker wants or "
                  "reports in this turn of the call.\n\nTurn: {{turn}}")


class SettingsError(ValueError):
    """Invalid configuration; the message lists every problem."""


def default_data_dir() -> Path:
    """Per-user data folder: %LOCALAPPDATA%\\EdgeClient, ~/Library/Application Support/EdgeClient,
    or $XDG_DATA_HOME/edge-client (~/.local/share/edge-client)."""
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "EdgeClient"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "EdgeClient"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "edge-client"


def _f(default: Any, help: str, **constraints: Any) -> Any:
    return Field(default, description=help, **constraints)


class Settings(BaseSettings):
    """Every setting, typed. Sources, highest first: command line (init values), environment
    (EDGE_CLIENT_<NAME>), config file, defaults; `load_settings` puts them together."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", env_ignore_empty=True)

    # what to stream and ask
    topic_arn: str | None = _f(None, "SNS topic ARN for LLM responses (FIFO topics: dedup id + group = call id)")
    prompt: str = _f(DEFAULT_PROMPT, "LLM prompt run on every final turn; must contain {{turn}}")
    model: str = _f("claude-sonnet-4-6", "LLM Gateway model id")
    max_tokens: int = _f(300, "LLM max_tokens per turn", ge=1, le=100_000)
    speech_model: str = _f("u3-rt-pro", "streaming speech model")
    format_turns: bool = _f(True, "ask for formatted final turns")
    api_url: str = _f(API_URLS["us"], "streaming base URL, or 'us' / 'eu'")
    min_turn_silence: int | None = _f(None, "end-of-turn tuning (ms of silence when confident); default: "
                                      "the service's", ge=0, le=60_000)
    max_turn_silence: int | None = _f(None, "end a turn after this much silence (ms) in any case; default: "
                                      "the service's", ge=0, le=60_000)
    # audio
    device: str | None = _f(None, "input device: index or part of its name (default: system default)")
    sample_rate: int = _f(16000, "streaming and recording sample rate (Hz)")
    device_rate: int | None = _f(None, "force the microphone capture rate (Hz); default: 16000 if the "
                                 "device supports it, else its native rate, resampled", ge=8000, le=192_000)
    source: str | None = _f(None, "stream this WAV file (paced in real time) instead of the microphone")
    source_speed: float = _f(1.0, "pace of --source: 1 = real time (required by the real service)", ge=0)
    # identity and storage
    agent_id: str = _f("", "agent/PC id in every message (default: the host name)")
    call_id: str | None = _f(None, "call id (default: generated)")
    profile: str = _f("default", "analysis profile for the batch pipeline (recording metadata)")
    data_dir: str = _f("", "base folder for recordings, outbox and logs (default: per-user data folder)")
    record_dir: str = _f("", "folder for call recordings (default: DATA_DIR/recordings)")
    outbox_path: str = _f("", "outbox database (default: DATA_DIR/outbox.db)")
    log_file: str = _f("", "log file (default: DATA_DIR/logs/edge-client.log; 'none' = console only)")
    log_level: str = _f("INFO", "DEBUG, INFO, WARNING or ERROR")
    upload_bucket: str | None = _f(None, "upload the recording to this S3 bucket at the end of the call")
    upload_prefix: str = _f("recordings/", "key prefix for uploads (the batch pipeline watches recordings/)")
    retention_days: int = _f(30, "delete uploaded recordings older than this at start (0 = keep)", ge=0)
    aws_region: str | None = _f(None, "AWS region for SNS/S3 (default: the AWS SDK's own configuration)")
    # robustness knobs (defaults suit production; tests shorten them)
    connect_timeout: float = _f(10.0, "handshake timeout (s)", gt=0)
    send_timeout: float = _f(10.0, "socket send timeout (s)", gt=0)
    ping_interval: float = _f(10.0, "websocket ping interval (s)", gt=0)
    ping_timeout: float = _f(5.0, "websocket pong timeout (s); must be < ping interval", gt=0)
    terminate_timeout: float = _f(5.0, "wait this long for Termination after Terminate (s)", gt=0)
    stop_timeout: float = _f(10.0, "after Ctrl+C, give up flushing buffered audio after this (s)", gt=0)
    reconnect_base: float = _f(0.5, "first reconnect delay (s), doubled per failure", gt=0)
    reconnect_cap: float = _f(30.0, "longest reconnect delay (s)", gt=0)
    reconnect_max_attempts: int = _f(12, "give up after this many consecutive failed sessions", ge=1)
    healthy_session_s: float = _f(30.0, "a session this long resets the reconnect backoff (s)", gt=0)
    backlog_seconds: float = _f(300.0, "audio buffered while disconnected, in memory (s of audio; "
                                "32 kB/s at 16 kHz, so 300 s = 9.6 MB); oldest dropped beyond", gt=0)
    catchup_rate: float = _f(2.0, "after a reconnect, send the backlog at most this many times real time, "
                             "only until max_lead_s ahead; then real time", ge=1.0)
    max_lead_s: float = _f(1.5, "never send more than this much audio (s) ahead of the session's wall "
                           "clock (the service closes with 3007 beyond a small burst): a reconnect wins "
                           "back at most this much of its backlog, the rest stays as added latency "
                           "(the recording has everything)", gt=0)
    publish_backoff_cap: float = _f(60.0, "longest SNS retry delay (s)", gt=0)
    drain_timeout: float = _f(10.0, "at exit, wait this long for the outbox to drain (s)", ge=0)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        inputs = _LOAD_INPUTS.get()
        if inputs is None:  # Settings(...) built directly: keyword arguments, then the process environment
            return init_settings, env_settings
        env, file_data = inputs
        return init_settings, _MappingEnvSource(settings_cls, env), _DictSource(settings_cls, file_data)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic takes true/false as 1/0; for a number setting that is a mistake, not a value
        if isinstance(value, bool) and field_kind(info.field_name) in (int, float):
            raise ValueError("must be a number, not a boolean")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_has_turn(cls, v: str) -> str:
        if "{{turn}}" not in v:
            raise ValueError("must contain {{turn}} (replaced by the final transcript of each turn)")
        return v

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, v: int) -> int:
        if v not in SAMPLE_RATES:
            raise ValueError(f"must be one of {', '.join(map(str, SAMPLE_RATES))}")
        return v

    @field_validator("api_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        parts = urlsplit(API_URLS.get(v.lower(), v))
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError("must be a ws:// or wss:// URL, 'us' or 'eu'")
        return v

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("arn:"):
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return v

    @field_validator("source")
    @classmethod
    def _source_exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError("file not found")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return v

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        problems = []
        if not self.ping_timeout < self.ping_interval:
            problems.append(f"need ping_timeout < ping_interval (got {self.ping_timeout} and {self.ping_interval})")
        if self.reconnect_cap < self.reconnect_base:
            problems.append(f"reconnect_cap must be >= reconnect_base (got {self.reconnect_cap} and "
                            f"{self.reconnect_base})")
        if self.source_speed > self.catchup_rate:
            problems.append(f"source_speed must not exceed catchup_rate, or the sender falls behind (got "
                            f"{self.source_speed} and {self.catchup_rate})")
        if problems:
            raise ValueError("; ".join(problems))
        if not self.agent_id:
            self.agent_id = socket.gethostname()
        base = Path(self.data_dir) if self.data_dir else default_data_dir()
        self.data_dir = str(base)
        self.record_dir = self.record_dir or str(base / "recordings")
        self.outbox_path = self.outbox_path or str(base / "outbox.db")
        self.log_file = self.log_file or str(base / "logs" / "edge-client.log")
        return self

    @property
    def streaming_url(self) -> str:
        url = API_URLS.get(self.api_url.lower(), self.api_url)
        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else "/v3/ws"
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


FIELDS = Settings.model_fields
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
# load_settings' inputs for settings_customise_sources: (environment, config file data)
_LOAD_INPUTS: ContextVar[tuple[Mapping[str, str], dict[str, Any]] | None] = ContextVar("_LOAD_INPUTS", default=None)


def field_kind(name: str) -> type:
    """str, int, float or bool: the type of a setting without its `| None`."""
    annotation = FIELDS[name].annotation
    kinds = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    return kinds[0]


class _MappingEnvSource(EnvSettingsSource):
    """EDGE_CLIENT_* variables from a given mapping (the process environment, or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class _DictSource(PydanticBaseSettingsSource):
    """The config file's table, already read (unknown keys are left in: the model rejects them)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read config file {p}: {exc}") from exc
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {p} is not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"config file {p} must hold a table/object of settings")
    if isinstance(data.get("edge_client"), dict):  # allow a [edge_client] table
        data = data["edge_client"]
    return data


def load_settings(cli: dict[str, Any] | None = None, env: Mapping[str, str] | None = None,
                  config_file: str | None = None) -> Settings:
    """Merge the sources (CLI > env > file > defaults), check types and values; one SettingsError
    lists every bad key with its value and where it came from."""
    env = os.environ if env is None else env
    cli = {k: v for k, v in (cli or {}).items() if v is not None and k in FIELDS}
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
    file_data = read_config_file(config_file) if config_file else {}
    token = _LOAD_INPUTS.set((env, file_data))
    try:
        return Settings(**cli)
    except ValidationError as exc:
        raise SettingsError(_describe_errors(exc, cli, env, file_data, config_file)) from None
    finally:
        _LOAD_INPUTS.reset(token)


def _describe_errors(exc: ValidationError, cli: dict[str, Any], env: Mapping[str, str], file_data: dict[str, Any],
                     config_file: str | None) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across settings
            lines.append(msg)
            continue
        name = str(err["loc"][0])
        env_key = ENV_PREFIX + name.upper()
        if name in cli:
            origin = "command line"
        elif env.get(env_key):
            origin = f"environment variable {env_key}"
        elif name in file_data:
            origin = f"config file {config_file}"
        else:
            origin = "default"
        if err["type"] == "extra_forbidden":
            msg = "unknown settings key"
        lines.append(f"{name} = {err['input']!r} ({origin}): {msg}")
    return f"invalid settings ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  - " + "\n  - ".join(lines)


def describe(settings: Settings) -> str:
    """Effective settings for the log (there is no secret among them)."""
    return ", ".join(f"{name}={getattr(settings, name)!r}" for name in FIELDS if name != "prompt")

