"""Stable names shared by the constructs, the stack outputs and tests (docs/architecture.md is the source)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
FUNCTIONS_REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"

# Storage layout (fixed by the contract; only the upload prefix is configurable).
RESULTS_PREFIX = "results/"
PROFILES_PREFIX = "profiles/"

# The file types start_call accepts, in any case (`.WAV`, `.Mp3`): every object under the recordings prefix reaches
# start_call (one notification, prefix filter only), which records any other type FAILED (unsupported file type).
# functions/call_analytics/recordings.py AUDIO_EXTENSIONS is the Lambda's copy (infra is not in the Lambda
# package); tests/infra/test_infra_trigger_suffixes.py ties the two. The stack output RecordingSuffixes lists these.
AUDIO_SUFFIXES = (
    ".wav", ".mp3", ".m4a", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".webm", ".aac", ".amr", ".wma", ".aiff", ".aif",
    ".mov", ".mkv", ".3gp", ".gsm", ".au", ".caf",
)

# Powertools settings every function gets.
POWERTOOLS_SERVICE_NAME = "call-analytics"
POWERTOOLS_METRICS_NAMESPACE = "CallAnalytics"


def handler_path(name: str) -> str:
    return f"call_analytics.handlers.{name}.handler"


class Handler:
    START_CALL = "start_call"
    SUBMIT_TRANSCRIPTION = "submit_transcription"
    CHECK_TRANSCRIPT = "check_transcript"
    FETCH_TRANSCRIPT = "fetch_transcript"
    RUN_ANALYSIS = "run_analysis"
    FINALIZE_CALL = "finalize_call"
    RECORD_FAILURE = "record_failure"
    DEAD_LETTERS = "dead_letters"
    STORE_LIVE_INSIGHT = "store_live_insight"  # live-insights queue -> the edge clients' LLM responses on the calls

    ALL = (START_CALL, SUBMIT_TRANSCRIPTION, CHECK_TRANSCRIPT, FETCH_TRANSCRIPT, RUN_ANALYSIS, FINALIZE_CALL,
           RECORD_FAILURE, DEAD_LETTERS, STORE_LIVE_INSIGHT)

    # only with completion_webhook=true
    AWAIT_TRANSCRIPT = "await_transcript"  # the waitForTaskToken task: stores the execution's task token
    TRANSCRIPT_WEBHOOK = "transcript_webhook"  # behind the function URL: AssemblyAI's webhook -> SendTaskSuccess
    COMPLETION_WEBHOOK = (AWAIT_TRANSCRIPT, TRANSCRIPT_WEBHOOK)


_COMMON_ENV = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL")

#: handler -> env var names, exactly the table in docs/architecture.md (plus the Powertools trio).
HANDLER_ENV: dict[str, tuple[str, ...]] = {
    Handler.START_CALL: (
        "CALLS_TABLE", "IDEMPOTENCY_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
        "DEFAULT_PROFILE", "STATE_MACHINE_ARN", "RESULTS_TOPIC_ARN",
    ),
    Handler.SUBMIT_TRANSCRIPTION: (
        "CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
        "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL", "AUDIO_DELIVERY", "PRESIGN_TTL_SECONDS",
        "POLL_INITIAL_SECONDS", "POLL_EXPECTED_RTF", "TRANSCRIPTION_CONCURRENCY", "SLOT_WAIT_MAX_SECONDS",
        "SLOT_WAIT_BUDGET_SECONDS", "TRANSCRIPTION_TIMEOUT_SECONDS", "OUTAGE_BUDGET_SECONDS",
    ),
    Handler.CHECK_TRANSCRIPT: (
        "CALLS_TABLE", "LIMITS_TABLE", "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL", "POLL_INITIAL_SECONDS",
        "POLL_EXPECTED_RTF", "POLL_MAX_SECONDS", "POLL_BACKOFF", "TRANSCRIPTION_TIMEOUT_SECONDS",
        "OUTAGE_BUDGET_SECONDS",
    ),
    Handler.FETCH_TRANSCRIPT: (
        "CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX", "ASSEMBLYAI_SECRET_ARN",
        "ASSEMBLYAI_API_BASE_URL", "OUTAGE_BUDGET_SECONDS",
    ),
    Handler.RUN_ANALYSIS: (
        "CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
        "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_LLM_BASE_URL", "LLM_REQUESTS_PER_MINUTE", "ANALYSIS_WAIT_BUDGET_SECONDS",
        "OUTAGE_BUDGET_SECONDS",
    ),
    Handler.FINALIZE_CALL: ("CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "RESULTS_TOPIC_ARN"),
    Handler.RECORD_FAILURE: ("CALLS_TABLE", "LIMITS_TABLE", "RESULTS_TOPIC_ARN"),
    Handler.DEAD_LETTERS: (
        "CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX", "RESULTS_TOPIC_ARN",
        "STATE_MACHINE_ARN",
    ),
    Handler.STORE_LIVE_INSIGHT: ("CALLS_TABLE",),
    Handler.AWAIT_TRANSCRIPT: ("LIMITS_TABLE", "TRANSCRIPTION_TIMEOUT_SECONDS"),
    Handler.TRANSCRIPT_WEBHOOK: ("LIMITS_TABLE", "WEBHOOK_SECRET_ARN", "TRANSCRIPTION_TIMEOUT_SECONDS"),
}
HANDLER_ENV = {name: names + _COMMON_ENV for name, names in HANDLER_ENV.items()}

#: env vars an existing handler gets in addition when completion_webhook is on
COMPLETION_WEBHOOK_ENV: dict[str, tuple[str, ...]] = {
    Handler.SUBMIT_TRANSCRIPTION: ("WEBHOOK_URL", "WEBHOOK_SECRET_ARN"),
}


class Errors:
    """Exception class names raised by functions/call_analytics/errors.py (Retry/Catch match on them)."""

    THROTTLED = "ThrottledError"
    TRANSIENT = "TransientError"
    SLOT_WAIT_EXCEEDED = "SlotWaitExceeded"  # no transcription slot within the budget (caught -> RecordFailure)
    ANALYSIS_BUDGET_EXHAUSTED = "AnalysisBudgetExhausted"  # no LLM quota within the budget (caught -> RecordFailure)
    OUTAGE_BUDGET_EXHAUSTED = "OutageBudgetExhausted"  # the API failed through the outage budget (-> RecordFailure)
    TIMEOUT = "States.Timeout"  # the callback wait ran out: poll (the backstop)
    LAMBDA_SERVICE = ("Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException")
    # The function ran out of time (a slow-but-healthy API; the AssemblyAI client's deadline should prevent it):
    # reported as `Sandbox.Timedout` (also by local_aws/lambda_runner.py); AWS documents `Lambda.Unknown` for
    # unhandled function errors, timeouts included.
    LAMBDA_TIMEOUT = ("Sandbox.Timedout", "Lambda.Unknown")
    ALL = "States.ALL"


class HttpTimeouts:
    """Socket timeouts (s) of the AssemblyAI client per request: the defaults of
    functions/call_analytics/adapters/assemblyai.py AssemblyAIClient (tests/infra/test_infra_timeouts.py ties them).
    infra/functions.py sizes each Lambda's timeout from them, so a request gets all of them before the deadline."""

    CONNECT = 5.0
    READ = 30.0  # REST v2 (poll, transcript JSON, VTT, submit)
    UPLOAD = 300.0  # POST /v2/upload (audio_delivery=upload)
    LLM = 120.0  # LLM Gateway chat completions
    #: the client stops this long before the Lambda timeout (functions/call_analytics/wiring.py, tied by the same test)
    DEADLINE_MARGIN = 5.0


class Output:
    """CloudFormation output logical ids (the local stack and callctl read these names)."""

    RECORDINGS_BUCKET = "RecordingsBucketName"
    CALLS_TABLE = "CallsTableName"
    IDEMPOTENCY_TABLE = "IdempotencyTableName"
    RESULTS_TOPIC = "ResultsTopicArn"
    STATE_MACHINE = "StateMachineArn"
    API_KEY_SECRET = "ApiKeySecretArn"
    START_CALL_FUNCTION = "StartCallFunctionName"
    START_CALL_DLQ = "StartCallDlqUrl"
    WORKFLOW_DLQ = "WorkflowDlqUrl"
    LIMITS_TABLE = "LimitsTableName"
    DEAD_LETTERS_FUNCTION = "DeadLettersFunctionName"
    DEAD_LETTERS_DLQ = "DeadLettersDlqUrl"
    TRANSCRIPT_WEBHOOK_URL = "TranscriptWebhookUrl"  # only with completion_webhook=true
    RECORDINGS_PREFIX = "RecordingsPrefix"  # the upload prefix that triggers processing (`recordings/`)
    RECORDING_SUFFIXES = "RecordingSuffixes"  # comma-separated file types start_call accepts, any case (`.wav,...`)
    LIVE_TOPIC = "LiveInsightsTopicArn"  # the edge clients publish their LLM responses here
    EDGE_CLIENT_POLICY = "EdgeClientPolicyArn"  # attach to the edge clients' identity: publish + upload, nothing else
    LIVE_DLQ = "LiveInsightsDlqUrl"  # live insights store_live_insight could not store after its retries


class State:
    """State names in the state machine (the contract's diagram)."""

    HAS_TRANSCRIPT = "HasTranscript?"
    SUBMIT = "SubmitTranscription"
    SLOT_ACQUIRED = "SlotAcquired?"
    WAIT_FOR_SLOT = "WaitForSlot"
    TRANSCRIPT_SUBMITTED = "TranscriptSubmitted"
    START_POLLING = "StartPolling"
    WAIT = "WaitForTranscript"
    CHECK = "CheckTranscript"
    READY = "TranscriptReady?"
    TRANSCRIPT_ERROR = "TranscriptErrored"
    FETCH = "FetchTranscript"
    FETCH_RETRY = "FetchRetry?"  # the API failed: wait out the outage, then fetch again
    WAIT_TO_FETCH = "WaitToFetch"
    HAS_SPEECH = "HasSpeech?"
    NO_ANALYSES = "NoAnalyses"
    RUN_ANALYSES = "RunAnalyses"
    RUN_ANALYSIS = "RunAnalysis"
    ANALYSIS_THROTTLED = "AnalysisThrottled?"  # no LLM quota, or an outage of the gateway: wait, run again
    WAIT_FOR_LLM_QUOTA = "WaitForLlmQuota"
    ANALYSIS_DONE = "AnalysisDone"
    FINALIZE = "FinalizeCall"
    RECORD_FAILURE = "RecordFailure"
    FAILED = "CallFailed"
