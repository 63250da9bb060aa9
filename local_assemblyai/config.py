"""Server configuration: one JSON file, validated into typed dataclasses.

Unknown keys are rejected so a typo in a test config fails loudly instead of being ignored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

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


class ConfigError(ValueError):
    """The configuration file or an admin update is invalid."""


@dataclass
class WebhookConfig:
    max_attempts: int = 10          # real service: up to 10 attempts
    retry_interval_seconds: float = 10.0  # real service: 10 s apart
    timeout_seconds: float = 10.0   # the receiver must answer within 10 s


@dataclass
class JobConfig:
    # Minimum time a job stays in each state, so clients can observe the lifecycle even on cache hits.
    min_queued_seconds: float = 0.0
    min_processing_seconds: float = 0.0
    download_timeout_seconds: float = 60.0


@dataclass
class SttConfig:
    beam_size: int = 5
    compute_type: str = "int8"
    cpu_threads: int = 0            # 0 = let CTranslate2 decide
    vad_filter: bool = True


@dataclass
class LlmConfig:
    engine: str = "offline"         # "offline" | "proxy"
    models: list[str] = field(default_factory=lambda: list(DEFAULT_LLM_MODELS))
    # Requests per 60 s window: an int applies to every model, a dict maps model -> limit. 0/None = off.
    rate_limit_per_minute: int | dict[str, int] | None = None
    # proxy engine: any OpenAI-compatible endpoint; the key is read from the named env var.
    base_url: str | None = None
    api_key_env: str | None = None
    model_map: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 60.0


@dataclass
class StreamingConfig:
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


@dataclass
class ServerConfig:
    api_keys: list[str] = field(default_factory=list)
    data_dir: str = "./.local-assemblyai"
    cache_dir: str | None = None    # default: <data_dir>/cache (STT results, joined model weights)
    speech_model: str = "tiny.en"   # "tiny.en" | "base"
    concurrency: int = 2            # transcription jobs running at once; the rest queue (throttled)
    require_speech_models: bool = True
    speech_model_ids: list[str] = field(default_factory=lambda: list(DEFAULT_SPEECH_MODEL_IDS))
    unknown_transcript_status: int = 400  # 400 (cookbook) or 404 (openapi): see contract §7.2
    public_base_url: str | None = None    # base of upload URLs; default http://<host>:<port>
    stt: SttConfig = field(default_factory=SttConfig)
    jobs: JobConfig = field(default_factory=JobConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    faults: dict[str, Any] = field(default_factory=dict)  # validated by faults.FaultPlan

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else self.data_path / "cache"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key(s) in {where or 'config'}: {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        current = getattr(defaults, name)
        if is_dataclass(current):
            kwargs[name] = _build(type(current), value, f"{where}.{name}".lstrip("."))
        else:
            kwargs[name] = value
    return cls(**kwargs)


def validate(cfg: ServerConfig) -> ServerConfig:
    if cfg.speech_model not in SUPPORTED_WHISPER_MODELS:
        raise ConfigError(f"speech_model must be one of {', '.join(SUPPORTED_WHISPER_MODELS)}")
    if not isinstance(cfg.api_keys, list) or not all(isinstance(k, str) and k for k in cfg.api_keys):
        raise ConfigError("api_keys must be a list of non-empty strings")
    if int(cfg.concurrency) < 1:
        raise ConfigError("concurrency must be >= 1")
    if cfg.llm.engine not in ("offline", "proxy"):
        raise ConfigError("llm.engine must be 'offline' or 'proxy'")
    if cfg.llm.engine == "proxy" and not cfg.llm.base_url:
        raise ConfigError("llm.engine 'proxy' needs llm.base_url")
    if cfg.unknown_transcript_status not in (400, 404):
        raise ConfigError("unknown_transcript_status must be 400 or 404")
    return cfg


def from_dict(data: dict[str, Any]) -> ServerConfig:
    return validate(_build(ServerConfig, data, ""))


def load(path: str | Path | None) -> ServerConfig:
    if path is None:
        return validate(ServerConfig())
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return from_dict(data)


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
