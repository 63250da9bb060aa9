"""Env-var settings: one pydantic model per handler, composed by inheritance (names = env var names)."""

from __future__ import annotations

import functools
import os
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_API_BASE_URL = "https://api.assemblyai.com"
DEFAULT_LLM_BASE_URL = "https://llm-gateway.assemblyai.com/v1"


class BaseSettings(BaseModel):
    """What every handler gets (read by Powertools itself as well)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    POWERTOOLS_SERVICE_NAME: str = Field("call-analytics", min_length=1)
    POWERTOOLS_METRICS_NAMESPACE: str = Field("CallAnalytics", min_length=1)
    POWERTOOLS_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("POWERTOOLS_LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value


def _prefix(value: str) -> str:
    """`results` and `results/` both mean the folder `results/`."""
    value = value.strip().lstrip("/")
    return value if not value or value.endswith("/") else value + "/"


class TableSettings(BaseSettings):
    CALLS_TABLE: str = Field(min_length=1)


class ApiSettings(BaseSettings):
    ASSEMBLYAI_SECRET_ARN: str = Field(min_length=1)
    ASSEMBLYAI_API_BASE_URL: str = DEFAULT_API_BASE_URL

    @field_validator("ASSEMBLYAI_API_BASE_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class ResultsSettings(BaseSettings):
    RECORDINGS_BUCKET: str = Field(min_length=1)
    RESULTS_PREFIX: str = "results/"

    _norm_results = field_validator("RESULTS_PREFIX")(lambda cls, v: _prefix(v))


class ProfilesSettings(ResultsSettings):
    PROFILES_PREFIX: str = "profiles/"

    _norm_profiles = field_validator("PROFILES_PREFIX")(lambda cls, v: _prefix(v))


class PollSettings(BaseSettings):
    POLL_INITIAL_SECONDS: int = Field(10, ge=1, le=3600)


class TopicSettings(BaseSettings):
    RESULTS_TOPIC_ARN: str = Field(min_length=1)


class StartCallSettings(TableSettings, ApiSettings, ProfilesSettings, PollSettings, TopicSettings):
    IDEMPOTENCY_TABLE: str = Field(min_length=1)
    DEFAULT_PROFILE: str = "default"
    STATE_MACHINE_ARN: str = Field(min_length=1)
    AUDIO_DELIVERY: Literal["presigned", "upload"] = "presigned"
    PRESIGN_TTL_SECONDS: int = Field(3600, ge=60, le=7 * 24 * 3600)


class CheckTranscriptSettings(TableSettings, ApiSettings, PollSettings):
    POLL_MAX_SECONDS: int = Field(120, ge=1, le=3600)
    POLL_BACKOFF: float = Field(1.5, ge=1.0, le=10.0)
    TRANSCRIPTION_TIMEOUT_SECONDS: int = Field(4 * 3600, ge=60)


class FetchTranscriptSettings(TableSettings, ApiSettings, ProfilesSettings):
    pass


class RunAnalysisSettings(TableSettings, ProfilesSettings):
    ASSEMBLYAI_SECRET_ARN: str = Field(min_length=1)
    ASSEMBLYAI_LLM_BASE_URL: str = DEFAULT_LLM_BASE_URL

    @field_validator("ASSEMBLYAI_LLM_BASE_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class FinalizeCallSettings(TableSettings, ResultsSettings, TopicSettings):
    pass


class RecordFailureSettings(TableSettings, TopicSettings):
    pass


#: handler name -> settings model (tests/infra cross-check env vars against these fields)
HANDLER_SETTINGS: dict[str, type[BaseSettings]] = {
    "start_call": StartCallSettings,
    "check_transcript": CheckTranscriptSettings,
    "fetch_transcript": FetchTranscriptSettings,
    "run_analysis": RunAnalysisSettings,
    "finalize_call": FinalizeCallSettings,
    "record_failure": RecordFailureSettings,
}

S = TypeVar("S", bound=BaseSettings)


class SettingsError(RuntimeError):
    """The Lambda's environment does not match its settings model (a deployment bug)."""


@functools.cache
def load_settings(model: type[S]) -> S:
    """Validate os.environ against `model` once per container; fails at cold start with every problem listed."""
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid environment for {model.__name__}: {problems}") from None


def clear_settings_cache() -> None:
    load_settings.cache_clear()
