"""completion_webhook: the WaitForTranscript callback task (`lambda:invoke.waitForTaskToken`). Stores the task
token under the transcript id; Step Functions ignores the answer and waits for SendTaskSuccess or its timeout."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.completion_webhook import await_transcript
from call_analytics.models import AwaitTranscriptRequest, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import AwaitTranscriptSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(AwaitTranscriptSettings)
    request = AwaitTranscriptRequest.model_validate(event)
    result = await_transcript(request, registry=wiring.callback_registry(settings.LIMITS_TABLE),
                              ttl_seconds=settings.TRANSCRIPTION_TIMEOUT_SECONDS)
    return dump(result)
