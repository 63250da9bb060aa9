"""Domain exceptions. Step Functions Retry/Catch match on these class names: do not rename them."""

from __future__ import annotations


class CallAnalyticsError(Exception):
    """Base class for every error this package raises on purpose."""


class ThrottledError(CallAnalyticsError):
    """HTTP 429 from AssemblyAI after the in-Lambda retries; the state machine retries with long backoff."""

    def __init__(self, message: str, *, status_code: int | None = 429, retry_after: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class TransientError(CallAnalyticsError):
    """5xx, timeouts, connection errors, the invocation deadline: worth retrying later (`retry_after`: the
    server's Retry-After, when it asked for a wait too long to sleep in the Lambda)."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class PermanentError(CallAnalyticsError):
    """4xx other than 429, or input that will never succeed: retrying does not help."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class TranscriptionFailed(CallAnalyticsError):
    """AssemblyAI finished the transcript with status `error`."""


class TranscriptionTimeout(CallAnalyticsError):
    """The transcript was not ready before TRANSCRIPTION_TIMEOUT_SECONDS."""


class SlotWaitExceeded(CallAnalyticsError):
    """No transcription slot became free within SLOT_WAIT_BUDGET_SECONDS (the call is recorded FAILED)."""


class AnalysisBudgetExhausted(CallAnalyticsError):
    """An analysis waited ANALYSIS_WAIT_BUDGET_SECONDS in total for LLM quota without getting it."""


class OutageBudgetExhausted(CallAnalyticsError):
    """The API kept answering 429/5xx (or timing out) through OUTAGE_BUDGET_SECONDS of waits (the call is FAILED
    with the last error; a re-drive reuses a finished transcript)."""


class InvalidProfile(CallAnalyticsError):
    """The analysis profile is unknown or does not validate."""


class InvalidRecording(CallAnalyticsError):
    """The uploaded object cannot be processed as a recording."""


#: errors that end a call at once (no retry makes sense)
PERMANENT_CALL_ERRORS = (PermanentError, InvalidProfile, InvalidRecording)
