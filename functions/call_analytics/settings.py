"""Env-var settings: one pydantic model per handler, composed by inheritance (names = env var names)."""

from __future__ import annotations

import functools
import json
import os
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_API_BASE_URL = "https://api.assemblyai.com"
DEFAULT_LLM_BASE_URL = "https://llm-gateway.assemblyai.com/v1"


class BaseSettings(BaseModel):
    """What every handler gets (read by Powertools itself as well)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    POWERTOOLS_SERVICE_NAME: str = Field("call-analytics", min_length=1)
    POWERTOOLS_METRICS_NAMESPACE: str = Field("CallAnalytics", min_length=1)
    POWERTOOLS_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("POWERTOOLS_LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value


#: LLM Gateway requests per model per 60 s window when nothing else is configured (the paid plans' limit)
DEFAULT_LLM_REQUESTS_PER_MINUTE = 30
MAX_LLM_REQUESTS_PER_MINUTE = 100000
#: the key of a per-model LLM_REQUESTS_PER_MINUTE map that covers every model the map does not name
ANY_MODEL = "*"


def _request_limit(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {value!r} is not an integer")
    if not 1 <= value <= MAX_LLM_REQUESTS_PER_MINUTE:
        raise ValueError(f"{where}: {value} is not between 1 and {MAX_LLM_REQUESTS_PER_MINUTE}")
    return value


def parse_llm_requests_per_minute(value: object) -> int | dict[str, int]:
    """An int (every model) or a map model -> int with an optional "*" for the models it does not name;
    from the environment as `30` or the map's JSON (`{"gpt-4.1": 60, "*": 30}`)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from None
        else:
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{value!r} is neither an integer nor a JSON object of model -> integer") from None
    if isinstance(value, dict):
        if not value:
            raise ValueError("the per-model map is empty (give an integer or at least one model)")
        limits: dict[str, int] = {}
        for model, limit in value.items():
            if not isinstance(model, str) or not model.strip():
                raise ValueError(f"{model!r} is not a model name")
            limits[model.strip()] = _request_limit(limit, f"model {model.strip()!r}")
        return limits
    return _request_limit(value, "limit")


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
    """The poll schedule (call_analytics/polling.py): first wait and shortest wait, growth, cap, soft cap."""

    POLL_INITIAL_SECONDS: int = Field(5, ge=1, le=3600)
    #: processing seconds per audio second on a slow day: a poll lands at duration x this (a soft cap, never later)
    POLL_EXPECTED_RTF: float = Field(0.3, ge=0.0, le=2.0)


class OutageSettings(BaseSettings):
    """Tasks that call AssemblyAI ride out 429/5xx in Wait states this long per outage (call_analytics/outages.py)."""

    OUTAGE_BUDGET_SECONDS: int = Field(900, ge=60, le=7 * 24 * 3600)


class LimitsSettings(BaseSettings):
    """The limits table: the transcription semaphore and the per-model LLM request windows.
    Optional where the handler only releases (None = no semaphore configured, nothing to release)."""

    LIMITS_TABLE: str | None = None


class SlotSettings(LimitsSettings):
    LIMITS_TABLE: str = Field(min_length=1)
    #: AssemblyAI jobs this deployment keeps queued/processing at once (Free 5, Paid 200+; excess would queue there)
    TRANSCRIPTION_CONCURRENCY: int = Field(5, ge=1, le=10000)
    #: longest wait between two attempts to get a slot
    SLOT_WAIT_MAX_SECONDS: int = Field(60, ge=1, le=3600)
    #: give up (SlotWaitExceeded -> FAILED call) after waiting this long in total for a slot
    SLOT_WAIT_BUDGET_SECONDS: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600)
    #: a holder older than this is presumed dead (its execution ended without releasing) and is reaped
    TRANSCRIPTION_TIMEOUT_SECONDS: int = Field(4 * 3600, ge=60)


class TopicSettings(BaseSettings):
    RESULTS_TOPIC_ARN: str = Field(min_length=1)


class StartCallSettings(TableSettings, ProfilesSettings, TopicSettings):
    """start_call validates and records the upload and starts the execution; it no longer talks to AssemblyAI."""

    IDEMPOTENCY_TABLE: str = Field(min_length=1)
    DEFAULT_PROFILE: str = "default"
    STATE_MACHINE_ARN: str = Field(min_length=1)


class SubmitTranscriptionSettings(TableSettings, ApiSettings, ProfilesSettings, PollSettings, SlotSettings,
                                  OutageSettings):
    AUDIO_DELIVERY: Literal["presigned", "upload"] = "presigned"
    PRESIGN_TTL_SECONDS: int = Field(3600, ge=60, le=7 * 24 * 3600)


class CheckTranscriptSettings(TableSettings, ApiSettings, PollSettings, LimitsSettings, OutageSettings):
    POLL_MAX_SECONDS: int = Field(900, ge=1, le=3600)
    #: growth of the poll times in the prompt window: the next wait is (POLL_BACKOFF - 1) x the time since submitting
    POLL_BACKOFF: float = Field(1.3, ge=1.0, le=10.0)
    TRANSCRIPTION_TIMEOUT_SECONDS: int = Field(4 * 3600, ge=60)


class FetchTranscriptSettings(TableSettings, ApiSettings, ProfilesSettings, OutageSettings):
    pass


class RunAnalysisSettings(TableSettings, ProfilesSettings, LimitsSettings, OutageSettings):
    ASSEMBLYAI_SECRET_ARN: str = Field(min_length=1)
    ASSEMBLYAI_LLM_BASE_URL: str = DEFAULT_LLM_BASE_URL
    LIMITS_TABLE: str = Field(min_length=1)
    #: LLM Gateway requests per model per 60 s window, shared by every execution (paid plans: 30). An int applies
    #: to every model; a map (JSON in the env) gives each model its own: {"gpt-4.1": 60, "*": 30}. A model the map
    #: does not name gets "*", without "*" DEFAULT_LLM_REQUESTS_PER_MINUTE (30). See llm_requests_per_minute().
    LLM_REQUESTS_PER_MINUTE: int | dict[str, int] = DEFAULT_LLM_REQUESTS_PER_MINUTE
    #: one analysis gives up (AnalysisBudgetExhausted -> FAILED call) after waiting this long in total for quota
    ANALYSIS_WAIT_BUDGET_SECONDS: int = Field(3600, ge=60, le=7 * 24 * 3600)

    @field_validator("ASSEMBLYAI_LLM_BASE_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    _parse_llm_limits = field_validator("LLM_REQUESTS_PER_MINUTE", mode="before")(
        lambda cls, v: parse_llm_requests_per_minute(v))

    def llm_requests_per_minute(self, model: str) -> int:
        """The request limit of `model`'s 60 s window."""
        limits = self.LLM_REQUESTS_PER_MINUTE
        if isinstance(limits, int):
            return limits
        return limits.get(model, limits.get(ANY_MODEL, DEFAULT_LLM_REQUESTS_PER_MINUTE))


class FinalizeCallSettings(TableSettings, ResultsSettings, TopicSettings):
    pass


class RecordFailureSettings(TableSettings, TopicSettings, LimitsSettings):
    pass


class StoreLiveInsightSettings(TableSettings):
    """store_live_insight: the edge clients' LLM responses onto their call records."""


class DeadLettersSettings(TableSettings, ProfilesSettings, TopicSettings, LimitsSettings):
    """dead_letters: start_call's on-failure records and the executions that ended outside the Catch -> FAILED call.
    The bucket and prefixes are start_call's filter (which objects are recordings); the state machine ARN lets it
    see whether start_call got as far as starting the execution."""

    LIMITS_TABLE: str = Field(min_length=1)
    STATE_MACHINE_ARN: str = Field(min_length=1)


class CompletionWebhookSettings(BaseSettings):
    """submit_transcription's extra env with completion_webhook=true (both unset = off: polling only)."""

    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET_ARN: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.WEBHOOK_URL and self.WEBHOOK_SECRET_ARN)


class CallbackSettings(BaseSettings):
    """The task-token items of completion_webhook live in the limits table (pk CALLBACK#<transcript_id>)."""

    LIMITS_TABLE: str = Field(min_length=1)
    #: an item lives this long (+ 1 h): no execution waits for a transcript longer than that
    TRANSCRIPTION_TIMEOUT_SECONDS: int = Field(4 * 3600, ge=60)


class AwaitTranscriptSettings(CallbackSettings):
    pass


class TranscriptWebhookSettings(CallbackSettings):
    WEBHOOK_SECRET_ARN: str = Field(min_length=1)


#: completion_webhook=true only: the extra handlers and their settings (tests/infra cross-check them as well)
COMPLETION_WEBHOOK_HANDLER_SETTINGS: dict[str, type[BaseSettings]] = {
    "await_transcript": AwaitTranscriptSettings,
    "transcript_webhook": TranscriptWebhookSettings,
}


#: handler name -> settings model (tests/infra cross-check env vars against these fields)
HANDLER_SETTINGS: dict[str, type[BaseSettings]] = {
    "start_call": StartCallSettings,
    "submit_transcription": SubmitTranscriptionSettings,
    "check_transcript": CheckTranscriptSettings,
    "fetch_transcript": FetchTranscriptSettings,
    "run_analysis": RunAnalysisSettings,
    "finalize_call": FinalizeCallSettings,
    "record_failure": RecordFailureSettings,
    "dead_letters": DeadLettersSettings,
    "store_live_insight": StoreLiveInsightSettings,
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
