"""Step Functions task SubmitTranscription: whole state in, `slot` out (acquired + transcript_id, or wait)."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.submit_transcription import SubmitDeps, submit_transcription
from call_analytics.models import CallState, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import CompletionWebhookSettings, SubmitTranscriptionSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(SubmitTranscriptionSettings)
    webhook = load_settings(CompletionWebhookSettings)
    state = CallState.model_validate(event)
    slot = submit_transcription(state, SubmitDeps(
        settings=settings,
        store=wiring.results_store(),
        calls=wiring.calls_table(settings.CALLS_TABLE),
        aai=wiring.assemblyai_client(settings.ASSEMBLYAI_SECRET_ARN, settings.ASSEMBLYAI_API_BASE_URL, None,
                                     deadline=wiring.lambda_deadline(context)),
        profiles=wiring.profile_loader(settings.RECORDINGS_BUCKET, settings.PROFILES_PREFIX),
        semaphore=wiring.transcription_semaphore(settings.LIMITS_TABLE),
        webhook=_webhook_params(webhook),
    ))
    return dump(slot)


def _webhook_params(webhook: CompletionWebhookSettings):
    """completion_webhook on: a callable giving the transcript request's webhook fields (secret read at call time)."""
    if not webhook.enabled:
        return None
    from call_analytics.logic.completion_webhook import webhook_params

    return lambda: webhook_params(webhook.WEBHOOK_URL, wiring.webhook_secret(webhook.WEBHOOK_SECRET_ARN))
