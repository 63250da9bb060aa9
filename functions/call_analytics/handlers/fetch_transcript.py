"""Step Functions task FetchTranscript: whole state in, `transcript` out."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.fetch_transcript import fetch_transcript
from call_analytics.models import CallState, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import FetchTranscriptSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(FetchTranscriptSettings)
    state = CallState.model_validate(event)
    summary = fetch_transcript(
        state,
        settings=settings,
        aai=wiring.assemblyai_client(settings.ASSEMBLYAI_SECRET_ARN, settings.ASSEMBLYAI_API_BASE_URL, None,
                                     deadline=wiring.lambda_deadline(context)),
        store=wiring.results_store(),
        calls=wiring.calls_table(settings.CALLS_TABLE),
        profiles=wiring.profile_loader(settings.RECORDINGS_BUCKET, settings.PROFILES_PREFIX),
    )
    return dump(summary)
