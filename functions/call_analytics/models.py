"""The execution state that flows through the state machine (docs/architecture.md), and each step's output."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TranscriptStatus = Literal["queued", "processing", "completed", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Recording(_Model):
    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None


class OutageState(_Model):
    """An API outage a task is riding out in Wait states (call_analytics/outages.py): present on a task's "retry"
    answer, carried into its next attempt, gone after a success."""

    step: str
    since: str  # ISO time of the first failed attempt of this outage
    waits: int = Field(1, ge=1)
    waited_seconds: int = Field(0, ge=0)  # bounded by OUTAGE_BUDGET_SECONDS
    wait_seconds: int = Field(1, ge=1)  # the wait before the next attempt
    error: str  # ThrottledError | TransientError
    reason: str


class PollState(_Model):
    status: TranscriptStatus = "queued"
    wait_seconds: int = Field(10, ge=1)
    polls: int = Field(0, ge=0)
    started_at: str
    #: completion_webhook: checks that AssemblyAI's webhook triggered (the others followed a full wait)
    callbacks: int = Field(0, ge=0)
    #: the poll failed (429/5xx after the client's retries): wait_seconds is the outage wait, status is the last known
    outage: OutageState | None = None


class SlotState(_Model):
    """SubmitTranscription's answer (ResultPath `$.slot`): got a transcription slot and submitted, or wait."""

    acquired: bool
    wait_seconds: int = Field(1, ge=1)  # acquired: the first poll wait; else: the wait before the next attempt
    attempts: int = Field(1, ge=1)  # attempts to get a slot so far
    waited_seconds: int = Field(0, ge=0)  # total wait for a slot so far (bounded by SLOT_WAIT_BUDGET_SECONDS)
    transcript_id: str | None = None
    submitted_at: str | None = None
    estimated_duration: float | None = None  # seconds, from the header or the object size
    #: not acquired because the submission failed (429/5xx): the slot stays held, wait_seconds is the outage wait
    outage: OutageState | None = None


class TranscriptSummary(_Model):
    audio_duration: float | None = None
    has_speech: bool
    skip_reason: str | None = None
    analyses: list[str] = Field(default_factory=list)


class FetchRetry(_Model):
    """FetchTranscript's answer (ResultPath `$.transcript`) while the API fails: wait, then fetch again."""

    status: Literal["retry"] = "retry"
    wait_seconds: int = Field(ge=1)
    outage: OutageState


class ThrottleState(_Model):
    """What one Map item carries through its quota wait loop."""

    waits: int = Field(0, ge=0)
    waited_seconds: int = Field(0, ge=0)
    #: tokens of requests whose job was interrupted by the limiter (they are still paid for)
    usage: dict[str, int] = Field(default_factory=dict)
    requests: int = Field(0, ge=0)


class AnalysisRef(_Model):
    analysis: str
    valid: bool
    item_key: str
    status: Literal["done"] = "done"
    requests: int = 0  # LLM Gateway requests sent for this item (repairs and interrupted jobs included)
    waits: int = 0  # times it waited for LLM quota
    waited_seconds: int = 0


class AnalysisThrottled(_Model):
    """RunAnalysis's answer when no model has quota (`throttled`) or the gateway keeps failing (`retry`, with the
    outage): the Map item waits `wait_seconds` and runs again."""

    call_id: str
    profile: str
    analysis: str
    status: Literal["throttled", "retry"] = "throttled"
    wait_seconds: int = Field(ge=1)
    throttle: ThrottleState
    reason: str
    outage: OutageState | None = None


class ErrorInfo(_Model):
    Error: str = "States.Unknown"
    Cause: str | None = None


class CallbackOutcome(_Model):
    """completion_webhook: what ended the WaitForTranscript callback task (ResultPath `$.callback`): the
    SendTaskSuccess output `{"source": "webhook", "status"}`, or the Catch's `{"Error": "States.Timeout", ...}`."""

    source: Literal["webhook"] | None = None
    status: str | None = None
    Error: str | None = None

    @property
    def woken_by_webhook(self) -> bool:
        return self.source == "webhook"


class AwaitTranscriptRequest(_Model):
    """The WaitForTranscript callback task's payload (await_transcript)."""

    task_token: str = Field(min_length=1)
    call_id: str = Field(min_length=1)
    transcript_id: str = Field(min_length=1)


class AwaitTranscriptResult(_Model):
    call_id: str
    transcript_id: str
    #: registered: waits for the webhook; woken: the webhook had come first, the task was completed at once
    outcome: Literal["registered", "woken"]


class TranscriptNotification(_Model):
    """AssemblyAI's webhook body (contract 2.9): `{"transcript_id", "status"}`; other types are ignored."""

    transcript_id: str = Field(min_length=1)
    status: str = Field(min_length=1)


class WebhookResult(_Model):
    status_code: int
    outcome: Literal["unauthorized", "bad_request", "ignored", "recorded", "delivered", "stale_token"]
    transcript_id: str | None = None
    reason: str | None = None


class CallState(_Model):
    """The whole execution state; each task reads it and returns only its own part."""

    call_id: str = Field(min_length=1)
    transcript_id: str | None = None
    profile: str = "default"
    recording: Recording | None = None
    slot: SlotState | None = None
    poll: PollState | None = None
    transcript: TranscriptSummary | FetchRetry | None = None
    analyses: list[AnalysisRef] | None = None
    error: ErrorInfo | None = None
    callback: CallbackOutcome | None = None  # completion_webhook only

    @model_validator(mode="after")
    def _transcript_id_from_slot(self) -> CallState:
        # fresh submissions: SubmitTranscription returns it in $.slot; a Pass copies it to $.transcript_id
        if not self.transcript_id and self.slot and self.slot.transcript_id:
            self.transcript_id = self.slot.transcript_id
        return self


class AnalysisTask(_Model):
    """One Map item."""

    call_id: str = Field(min_length=1)
    profile: str = "default"
    analysis: str = Field(min_length=1)
    throttle: ThrottleState | None = None  # present after a quota wait
    outage: OutageState | None = None  # present after an outage wait


class StartCallResult(_Model):
    """Outcome of one S3 record in start_call."""

    outcome: Literal["started", "duplicate", "skipped", "failed"]
    bucket: str
    key: str
    call_id: str | None = None
    transcript_id: str | None = None  # set only when an earlier run had submitted one
    execution_arn: str | None = None
    reason: str | None = None


class RedriveResult(_Model):
    call_id: str
    outcome: Literal["started", "skipped"]
    execution_name: str | None = None
    execution_arn: str | None = None
    resubmit: bool | None = None  # True: transcribe again; False: reuse the completed transcript / poll it
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


# ---- dead letters (handler dead_letters; message shapes in docs/architecture.md) ---------------------------
class AsyncInvokeContext(_Model):
    condition: str = "RetriesExhausted"  # or EventAgeExceeded (throttled for longer than the maximum event age)
    approximateInvokeCount: int | None = None
    functionArn: str | None = None
    requestId: str | None = None


class AsyncInvokeFailure(_Model):
    """Lambda's on-failure destination record of an async invocation (start_call -> StartCallDlq)."""

    requestContext: AsyncInvokeContext
    requestPayload: dict[str, Any]  # the original S3 event
    responseContext: dict[str, Any] | None = None
    responsePayload: Any = None  # {"errorType", "errorMessage", ...}; absent for EventAgeExceeded


class ExecutionStatusChange(_Model):
    """`detail` of EventBridge's "Step Functions Execution Status Change" event."""

    executionArn: str
    stateMachineArn: str | None = None
    name: str
    status: str
    startDate: int | None = None  # epoch milliseconds
    stopDate: int | None = None
    input: str | None = None  # the execution input, a JSON string (null when too large to include)
    error: str | None = None
    cause: str | None = None


class ExecutionEnded(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusChange


class DeadLetterResult(_Model):
    """What dead_letters did with one call of one message."""

    source: Literal["start_call", "workflow"]
    outcome: Literal["failed", "already_failed", "completed", "running", "stale", "skipped"]
    call_id: str | None = None
    reason: str | None = None
    notified: bool = False


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-safe dict for a Step Functions output."""
    return model.model_dump(mode="json")


class CallStatus:
    """Values of the call record's `status` (and of the SNS `status` attribute for the terminal ones)."""

    LIVE = "LIVE"  # an edge client streams the call; live insights arrive (logic/live_insights.py), no upload yet
    RECEIVED = "RECEIVED"  # upload seen, record written, execution not yet started
    QUEUED = "QUEUED"  # execution started; waiting for a transcription slot (or re-driven)
    TRANSCRIBING = "TRANSCRIBING"  # transcript submitted to AssemblyAI (queued or processing)
    ANALYZING = "ANALYZING"  # transcript stored, analyses running
    COMPLETED = "COMPLETED"  # every analysis valid (or none to run: no speech)
    PARTIAL = "PARTIAL"  # finished, but at least one analysis is invalid (docs/data-model.md "Outcomes")
    FAILED = "FAILED"

    #: the pipeline finished: results stored and announced (a re-drive may still run it again)
    DONE = frozenset({COMPLETED, PARTIAL})
    TERMINAL = frozenset({COMPLETED, PARTIAL, FAILED})
