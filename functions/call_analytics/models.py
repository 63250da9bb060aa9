"""The execution state that flows through the state machine (docs/architecture.md), and each step's output."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TranscriptStatus = Literal["queued", "processing", "completed", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Recording(_Model):
    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None


class PollState(_Model):
    status: TranscriptStatus = "queued"
    wait_seconds: int = Field(10, ge=1)
    polls: int = Field(0, ge=0)
    started_at: str


class TranscriptSummary(_Model):
    audio_duration: float | None = None
    has_speech: bool
    skip_reason: str | None = None
    analyses: list[str] = Field(default_factory=list)


class AnalysisRef(_Model):
    analysis: str
    valid: bool
    item_key: str


class ErrorInfo(_Model):
    Error: str = "States.Unknown"
    Cause: str | None = None


class CallState(_Model):
    """The whole execution state; each task reads it and returns only its own part."""

    call_id: str = Field(min_length=1)
    transcript_id: str | None = None
    profile: str = "default"
    recording: Recording | None = None
    poll: PollState | None = None
    transcript: TranscriptSummary | None = None
    analyses: list[AnalysisRef] | None = None
    error: ErrorInfo | None = None


class AnalysisTask(_Model):
    """One Map item."""

    call_id: str = Field(min_length=1)
    profile: str = "default"
    analysis: str = Field(min_length=1)


class StartCallResult(_Model):
    """Outcome of one S3 record in start_call."""

    outcome: Literal["started", "duplicate", "skipped", "failed"]
    bucket: str
    key: str
    call_id: str | None = None
    transcript_id: str | None = None
    execution_arn: str | None = None
    reason: str | None = None


class FinalizeResult(_Model):
    call_id: str
    status: str
    message_id: str | None = None
    notified: bool


class FailureResult(_Model):
    call_id: str
    status: Literal["FAILED"] = "FAILED"
    reason: str
    notified: bool


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-safe dict for a Step Functions output."""
    return model.model_dump(mode="json")


class CallStatus:
    """Values of the call record's `status` (and of the SNS `status` attribute for the terminal ones)."""

    RECEIVED = "RECEIVED"  # upload seen, record written, transcript not yet submitted
    TRANSCRIBING = "TRANSCRIBING"  # transcript submitted to AssemblyAI (queued or processing)
    ANALYZING = "ANALYZING"  # transcript stored, analyses running
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    TERMINAL = frozenset({COMPLETED, FAILED})
