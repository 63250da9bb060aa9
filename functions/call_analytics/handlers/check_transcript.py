"""Step Functions task CheckTranscript: whole state in, `poll` out."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.check_transcript import check_transcript
from call_analytics.models import CallState, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import CheckTranscriptSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(CheckTranscriptSettings)
    state = CallState.model_validate(event)
    poll = check_transcript(
        state,
        settings=settings,
        aai=wiring.assemblyai_client(settings.ASSEMBLYAI_SECRET_ARN, settings.ASSEMBLYAI_API_BASE_URL, None,
                                     deadline=wiring.lambda_deadline(context)),
        calls=wiring.calls_table(settings.CALLS_TABLE),
        semaphore=wiring.transcription_semaphore(settings.LIMITS_TABLE) if settings.LIMITS_TABLE else None,
    )
    return dump(poll)
