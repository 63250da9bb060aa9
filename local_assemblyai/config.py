"""Server configuration: one JSON file (and LOCAL_AAI_* environment variables), validated into typed
pydantic models.

Unknown keys are rejected so a typo in a test config fails loudly instead of being ignored; a bad file
gets one error that lists every bad key with its value.
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Model ids of the LLM Gateway (contract §3.7); the offline engine answers for all of them.
DEFAULT_LLM_MODELS: tuple[str, ...] = (
    "claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001", "claude-opus-4-20250514", "claude-sonnet-4-20250514", "claude-3-haiku-20240307",
    "gpt-5.2", "gpt-5.1", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-oss-120b", "gpt-oss-20b",
    "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "kimi-k2.5", "qwen3.5-4b-32k-fast",
)

# Values accepted in `speech_models` (the contract's ids; the local engine runs `speech_model` for all).
DEFAULT_SPEECH_MODEL_IDS: tuple[str, ...] = (
    "universal-3-pro", "universal-3-5-pro", "universal-2", "universal", "best", "nano", "slam-1",
)

SUPPORTED_WHISPER_MODELS = ("tiny.en", "base")
ENV_PREFIX = "LOCAL_AAI_"  # LOCAL_AAI_CONCURRENCY=4, LOCAL_AAI_STREAMING__ENFORCE_REALTIME=false


class ConfigError(ValueError):
    """The configuration file or an admin update is invalid; the message lists every problem."""


def _no_bool_for_number(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    # pydantic takes true/false as 1/0; in a number field that is a mistake, not a value
    annotation = cls.model_fields[info.field_name].annotation
    kinds = set(get_args(annotation)) or {annotation}
    if isinstance(value, bool) and kinds & {int, float} and bool not in kinds:
        raise ValueError("must be a number, not a boolean")
    return value


class _Section(BaseModel):
    """A config table: typed fields, unknown keys rejected, true/false never taken for a number."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return _no_bool_for_number(cls, value, info)


class WebhookConfig(_Section):
    max_attempts: int = 10          # real service: up to 10 attempts
    retry_interval_seconds: float = 10.0  # real service: 10 s apart
    timeout_seconds: float = 10.0   # the receiver must answer within 10 s


class JobConfig(_Section):
    # Minimum time a job stays in each state, so clients can observe the lifecycle even on cache hits.
    min_queued_seconds: float = 0.0
    min_processing_seconds: float = 0.0
    download_timeout_seconds: float = 60.0


class SttConfig(_Section):
    beam_size: int = 5
    compute_type: str = "int8"
    cpu_threads: int = 0            # 0 = let CTranslate2 decide
    vad_filter: bool = True


class LlmConfig(_Section):
    engine: Literal["offline", "proxy"] = "offline"
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_LLM_MODELS))
    # Requests per 60 s window: an int applies to every model, a dict maps model -> limit. 0/None = off.
    rate_limit_per_minute: int | dict[str, int] | None = None
    # proxy engine: any OpenAI-compatible endpoint; the key is read from the named env var.
    base_url: str | None = None
    api_key_env: str | None = None
    model_map: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = 60.0

    @model_validator(mode="after")
    def _proxy_needs_url(self) -> LlmConfig:
        if self.engine == "proxy" and not self.base_url:
            raise ValueError("llm.engine 'proxy' needs llm.base_url")
        return self


class StreamingConfig(_Section):
    max_session_seconds: float = 3 * 3600.0
    # Audio may run ahead of wall-clock time by this much before 3007 (network bursts, catch-up).
    realtime_burst_seconds: float = 2.0
    enforce_realtime: bool = True
    min_chunk_ms: float = 50.0
    max_chunk_ms: float = 1000.0
    partial_interval_seconds: float = 1.0   # how often an open turn is re-decoded for a partial Turn
    # After Terminate, queued decodes must finish within this bound, else Error + close 3005.
    finish_timeout_seconds: float = 120.0
    token_max_expires_seconds: int = 600
    max_concurrent_sessions: int | None = None  # over the limit: Error + close 3009
    # Energy VAD: a 20 ms frame is speech when louder than max(floor_dbfs, noise floor + margin_db).
    vad_floor_dbfs: float = -45.0
    vad_margin_db: float = 12.0


class ServerConfig(BaseSettings):
    """The whole configuration. `load(FILE)` reads, highest first: environment (LOCAL_AAI_<KEY>, nested
    keys with `__`: LOCAL_AAI_STREAMING__ENFORCE_REALTIME=false), the JSON file, defaults. Built
    directly or with `from_dict` it takes only the values given (and defaults)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      env_ignore_empty=True)

    api_keys: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    data_dir: str = "./.local-assemblyai"
    cache_dir: str | None = None    # default: <data_dir>/cache (STT results, joined model weights)
    speech_model: Literal[SUPPORTED_WHISPER_MODELS] = "tiny.en"
    concurrency: int = Field(2, ge=1)  # transcription jobs running at once; the rest queue (throttled)
    require_speech_models: bool = True
    speech_model_ids: list[str] = Field(default_factory=lambda: list(DEFAULT_SPEECH_MODEL_IDS))
    unknown_transcript_status: Literal[400, 404] = 400  # 400 (cookbook) or 404 (openapi): see contract §7.2
    public_base_url: str | None = None    # base of upload URLs; default http://<host>:<port>
    stt: SttConfig = Field(default_factory=SttConfig)
    jobs: JobConfig = Field(default_factory=JobConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    faults: dict[str, Any] = Field(default_factory=dict)  # validated by faults.FaultPlan

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return _no_bool_for_number(cls, value, info)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        file_data = _FILE_DATA.get()
        if file_data is None:
            return (init_settings,)
        return init_settings, env_settings, _DictSource(settings_cls, file_data)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else self.data_path / "cache"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("_FILE_DATA", default=None)


class _DictSource(PydanticBaseSettingsSource):
    """The config file's object, already read (unknown keys left in: the model rejects them)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _problems(exc: ValidationError, env: dict[str, str] | None = None) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        loc = [str(part) for part in err["loc"] if not str(part).startswith(("function-", "int", "dict["))]
        key = ".".join(loc)
        env_key = ENV_PREFIX + "__".join(loc).upper()
        origin = f" (environment variable {env_key})" if env and env.get(env_key) else ""
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key {key} (value {err['input']!r}){origin}")
        elif key:
            lines.append(f"{key} = {err['input']!r}{origin}: {msg}")
        else:
            lines.append(msg)
    lines = list(dict.fromkeys(lines))  # a union type reports one problem once per member
    return f"invalid config ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  - " + "\n  - ".join(lines)


def _build(data: Any) -> ServerConfig:
    if not isinstance(data, dict):
        raise ConfigError("config must be a JSON object")
    try:
        return ServerConfig(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def validate(cfg: ServerConfig) -> ServerConfig:
    """Kept for callers of the dataclass version: a ServerConfig is valid once built."""
    return cfg


def from_dict(data: dict[str, Any]) -> ServerConfig:
    return _build(data)


def load(path: str | Path | None) -> ServerConfig:
    """The file (if any) under LOCAL_AAI_* environment variables, over the defaults."""
    data: Any = {}
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a JSON object")
    token = _FILE_DATA.set(data)
    try:
        return ServerConfig()
    except ValidationError as exc:
        raise ConfigError(_problems(exc, dict(os.environ))) from None
    finally:
        _FILE_DATA.reset(token)


# Keys an admin may change on a running server (POST /_local/config). Engine choice, data dir and
# model need a restart because they are bound at start-up.
RUNTIME_KEYS = ("api_keys", "require_speech_models", "unknown_transcript_status", "jobs", "webhook",
                "streaming", "llm.rate_limit_per_minute", "llm.models", "speech_model_ids")


def apply_runtime_update(cfg: ServerConfig, update: dict[str, Any]) -> ServerConfig:
    """Return a new config with `update` merged in; only RUNTIME_KEYS may change."""
    merged = cfg.to_dict()
    for key, value in update.items():
        if key == "llm":
            if not isinstance(value, dict):
                raise ConfigError("llm must be an object")
            bad = sorted(k for k in value if f"llm.{k}" not in RUNTIME_KEYS)
            if bad:
                raise ConfigError(f"not changeable at run time: {', '.join('llm.' + k for k in bad)}")
            merged["llm"].update(value)
        elif key in RUNTIME_KEYS:
            if isinstance(merged.get(key), dict) and isinstance(value, dict):
                merged[key].update(value)
            else:
                merged[key] = value
        else:
            raise ConfigError(f"not changeable at run time: {key}")
    return from_dict(merged)
