"""Step Functions task FinalizeCall: whole state in, COMPLETED + notification."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.finalize_call import finalize_call
from call_analytics.models import CallState, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import FinalizeCallSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(FinalizeCallSettings)
    state = CallState.model_validate(event)
    result = finalize_call(
        state,
        settings=settings,
        calls=wiring.calls_table(settings.CALLS_TABLE),
        notifier=wiring.notifier(settings.RESULTS_TOPIC_ARN),
        store=wiring.results_store(),
    )
    return dump(result)
