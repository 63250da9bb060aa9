"""completion_webhook: AssemblyAI's transcript webhook through the Lambda function URL (payload format 2.0).
Answers like an HTTP endpoint: 401 without the shared secret, 400 for a body that is not a notification, 200
otherwise (also for unknown transcripts and repeats). Errors of DynamoDB/Step Functions raise -> 502, which
AssemblyAI retries."""

from __future__ import annotations

import json

from call_analytics import wiring
from call_analytics.logic.completion_webhook import handle_webhook
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import TranscriptWebhookSettings, load_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    # at the first invocation, not at import: Powertools' data_classes package loads every event class
    from aws_lambda_powertools.utilities.data_classes.lambda_function_url_event import LambdaFunctionUrlEvent

    settings = load_settings(TranscriptWebhookSettings)
    request = LambdaFunctionUrlEvent(event)
    if request.http_method != "POST":
        return _response(405, {"error": "POST only"})
    result = handle_webhook(
        request.headers, request.decoded_body,
        secret=lambda: wiring.webhook_secret(settings.WEBHOOK_SECRET_ARN),
        registry=wiring.callback_registry(settings.LIMITS_TABLE),
        ttl_seconds=settings.TRANSCRIPTION_TIMEOUT_SECONDS,
    )
    logger.info("webhook handled", extra={"outcome": result.outcome, "transcript_id": result.transcript_id})
    body = {"outcome": result.outcome}
    if result.reason:
        body["reason"] = result.reason
    return _response(result.status_code, body)


def _response(status_code: int, body: dict) -> dict:
    return {"statusCode": status_code, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
