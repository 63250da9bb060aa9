"""Deployment parameters: one validated model, read from CDK context (defaults in cdk.json, docs/deploy.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.names import AUDIO_SUFFIXES, PROFILES_PREFIX, REPO_ROOT, RESULTS_PREFIX

CDK_JSON = REPO_ROOT / "cdk.json"

ASSEMBLYAI_BASE_URLS: dict[str, tuple[str, str]] = {
    # region -> (REST API base URL, LLM Gateway base URL)
    "us": ("https://api.assemblyai.com", "https://llm-gateway.assemblyai.com/v1"),
    "eu": ("https://api.eu.assemblyai.com", "https://llm-gateway.eu.assemblyai.com/v1"),
}

#: context keys of earlier versions, ignored: every object under the prefix now reaches start_call, which accepts
#: names.AUDIO_SUFFIXES in any case and records other types FAILED (issue 10: suffix filters skipped `.Mp3` silently)
RETIRED_KEYS = ("recording_suffixes", "suffix_case_variants")

#: the retention periods CloudWatch Logs accepts
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

MAX_LLM_REQUESTS_PER_MINUTE = 100000
#: tasks that may each wait out an outage (SubmitTranscription, CheckTranscript, FetchTranscript, RunAnalysis)
OUTAGE_STEPS = 4

_PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STACK_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_URL_RE = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


class ConfigError(ValueError):
    """The CDK context does not describe a valid deployment."""


class StackConfig(BaseModel):
    """Every knob of the stack. Field names are the CDK context keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stack_name: str = "CallAnalytics"
    assemblyai_region: Literal["us", "eu"] = "us"
    #: explicit overrides (the local stack points these at http://127.0.0.1:PORT and .../v1)
    assemblyai_api_base_url: str | None = None
    assemblyai_llm_base_url: str | None = None
    recordings_prefix: str = "recordings/"
    default_profile: str = "default"
    audio_delivery: Literal["presigned", "upload"] = "presigned"
    presign_ttl_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    #: the poll schedule (functions/call_analytics/polling.py): the first poll this long after submitting (never
    #: later because of the duration estimate), and the shortest wait
    poll_initial_seconds: int = Field(5, ge=1, le=3600)
    #: processing seconds per audio second on a slow day: a poll lands at duration x this (a soft cap: never later)
    poll_expected_rtf: float = Field(0.3, ge=0.0, le=2.0)
    poll_max_seconds: int = Field(900, ge=1, le=3600)
    #: poll-time growth in the first 45 s: next wait = (poll_backoff - 1) x the time since submitting
    poll_backoff: float = Field(1.3, ge=1.0, le=10.0)
    #: 429/5xx/timeouts from AssemblyAI or the LLM Gateway are waited out in Wait states (Retry-After honoured) for
    #: this many seconds of waits per outage and task, then the call FAILS with the last error
    outage_budget_seconds: int = Field(900, ge=60, le=7 * 24 * 3600)
    transcription_timeout_seconds: int = Field(4 * 3600, ge=60, le=7 * 24 * 3600)
    #: AssemblyAI jobs queued/processing at once (the DynamoDB semaphore; Free plan 5, paid 200+)
    transcription_concurrency: int = Field(5, ge=1, le=10000)
    #: longest wait between two attempts to get a transcription slot
    slot_wait_max_seconds: int = Field(60, ge=1, le=3600)
    #: total wait for a slot before the call fails with SlotWaitExceeded
    slot_wait_budget_seconds: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600)
    #: LLM Gateway requests per model per minute, shared by all executions (paid plans: 30): an int for every
    #: model, or a map model -> int with an optional "*" for the unnamed ones (without "*" they get 30)
    llm_requests_per_minute: int | dict[str, int] = 30
    #: total wait for LLM quota per analysis before the call fails with AnalysisBudgetExhausted
    analysis_wait_budget_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    #: hard limit of one execution; default = slot budget + transcription timeout + analysis budget
    #: + max(1 h, 4 outage budgets: submit, poll, fetch, analyses)
    execution_timeout_seconds: int | None = Field(None, ge=120)
    analysis_max_concurrency: int = Field(4, ge=1, le=40)
    log_retention_days: int = 30
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: days after which results/ objects expire (None = keep)
    results_expiration_days: int | None = Field(None, ge=1)
    #: days after which overwritten/deleted object versions expire
    noncurrent_version_expiration_days: int = Field(30, ge=1)
    #: caps concurrent start_call runs (None = no reservation; a fresh account has too little to reserve)
    start_call_reserved_concurrency: int | None = Field(None, ge=1, le=1000)
    #: cap the public completion-webhook function (completion_webhook=true): a flood of unauthenticated requests
    #: (each answered 401) cannot then use up the account's Lambda concurrency
    webhook_reserved_concurrency: int | None = Field(None, ge=1, le=1000)
    #: RETAIN keeps the bucket, tables, key and secret when the stack is deleted
    removal_policy: Literal["retain", "destroy"] = "retain"
    #: fast completion detection: an AssemblyAI webhook (Lambda function URL) wakes the waiting execution through a
    #: Step Functions task token; polling stays as the backstop (docs/architecture.md, "Completion detection")
    completion_webhook: bool = False
    #: the live-insights topic (and its queue) as SNS/SQS FIFO: per-call ordering and deduplication by the service
    #: (the subscriber orders and deduplicates itself either way)
    live_topic_fifo: bool = False
    #: build the dependency layer with pip (needs the package index); off = placeholder layer, fast synth
    bundle: bool = False
    #: the functions' Lambda Python runtime, which the dependency layer is built for (the local stack picks the
    #: host's minor version, so a bundled layer's compiled wheels import there)
    python_version: Literal["3.11", "3.12", "3.13"] = "3.12"

    @field_validator("python_version", mode="before")
    @classmethod
    def _python_version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, float) else value  # `-c python_version=3.11` arrives as JSON 3.11
    #: run cdk-nag AwsSolutions checks during synth (errors fail the synth)
    nag: bool = True

    @field_validator("recordings_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip().lstrip("/")
        if not value:
            raise ValueError("must not be empty (uploads would collide with results/ and profiles/)")
        if not value.endswith("/"):
            value += "/"
        for reserved in (RESULTS_PREFIX, PROFILES_PREFIX):
            if value.startswith(reserved) or reserved.startswith(value):
                raise ValueError(f"must not overlap the reserved prefix {reserved!r}")
        return value

    @field_validator("default_profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if not _PROFILE_RE.match(value):
            raise ValueError("must match [a-z0-9][a-z0-9_-]*")
        return value

    @field_validator("stack_name")
    @classmethod
    def _stack_name(cls, value: str) -> str:
        if not _STACK_RE.match(value):
            raise ValueError("must start with a letter and contain only letters, digits and '-'")
        return value

    @field_validator("assemblyai_api_base_url", "assemblyai_llm_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _URL_RE.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("llm_requests_per_minute", mode="before")
    @classmethod
    def _llm_limits(cls, value: Any) -> Any:
        """Mirrors RunAnalysisSettings.LLM_REQUESTS_PER_MINUTE (tests/infra cross-check the rendered env var)."""
        if isinstance(value, dict):
            if not value:
                raise ValueError("the per-model map is empty (give an integer or at least one model)")
            return {_model_name(model): _llm_limit(limit, f"model {model!r}") for model, limit in value.items()}
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is neither an integer nor a map of model -> integer")
        return _llm_limit(value, "limit")

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {LOG_RETENTION_DAYS}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StackConfig:
        if self.poll_max_seconds < self.poll_initial_seconds:
            raise ValueError("poll_max_seconds must be >= poll_initial_seconds")
        if self.execution_timeout_seconds is not None and self.execution_timeout_seconds <= self.waiting_budget:
            raise ValueError(
                "execution_timeout_seconds must exceed slot_wait_budget_seconds + transcription_timeout_seconds + "
                "poll_max_seconds + analysis_wait_budget_seconds (it is the backstop behind those deadlines)"
            )
        return self

    # ---- derived values -------------------------------------------------------------------------
    @property
    def api_base_url(self) -> str:
        return self.assemblyai_api_base_url or ASSEMBLYAI_BASE_URLS[self.assemblyai_region][0]

    @property
    def llm_base_url(self) -> str:
        return self.assemblyai_llm_base_url or ASSEMBLYAI_BASE_URLS[self.assemblyai_region][1]

    @property
    def trigger_suffixes(self) -> tuple[str, ...]:
        """The file types start_call accepts, any case (the RecordingSuffixes output). Not a notification filter:
        every object under the prefix triggers start_call, which refuses the others with a recorded reason."""
        return AUDIO_SUFFIXES

    @property
    def waiting_budget(self) -> int:
        """The longest an execution can legitimately wait: for a slot, the transcript, and LLM quota."""
        return (self.slot_wait_budget_seconds + self.transcription_timeout_seconds + self.poll_max_seconds
                + self.analysis_wait_budget_seconds)

    @property
    def execution_timeout(self) -> int:
        return self.execution_timeout_seconds or (
            self.slot_wait_budget_seconds + self.transcription_timeout_seconds + self.analysis_wait_budget_seconds
            + max(3600, OUTAGE_STEPS * self.outage_budget_seconds))


def _llm_limit(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {value!r} is not an integer")
    if not 1 <= value <= MAX_LLM_REQUESTS_PER_MINUTE:
        raise ValueError(f"{where}: {value} is not between 1 and {MAX_LLM_REQUESTS_PER_MINUTE}")
    return value


def _model_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a model name")
    return value.strip()


def read_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The `context` block of cdk.json (the CDK CLI passes it to the app, `python app.py` alone does not)."""
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("context", {}))


def _coerce(value: Any) -> Any:
    """`-c key=value` arrives as a string; accept JSON spellings (true, 10, ["a"]) and `null`."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_config(context: dict[str, Any]) -> StackConfig:
    """Validate the known keys of `context` (cdk.json defaults merged with -c overrides)."""
    fields = StackConfig.model_fields
    raw = {key: _coerce(value) for key, value in context.items() if key in fields}  # RETIRED_KEYS are not fields
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'context'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid CDK context: {problems}") from None
