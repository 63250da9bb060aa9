"""S3 ObjectCreated (async) -> start_call for each record."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.start_call import StartCallDeps, start_calls
from call_analytics.models import dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.recordings import uploaded_objects
from call_analytics.redaction import redacted_errors
from call_analytics.settings import StartCallSettings, load_settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(StartCallSettings)
    store = wiring.results_store()
    deps = StartCallDeps(
        settings=settings,
        store=store,
        calls=wiring.calls_table(settings.CALLS_TABLE),
        workflow=wiring.workflow(settings.STATE_MACHINE_ARN),
        notifier=wiring.notifier(settings.RESULTS_TOPIC_ARN),
        profiles=wiring.profile_loader(settings.RECORDINGS_BUCKET, settings.PROFILES_PREFIX),
        idempotency_store=wiring.idempotency_store(settings.IDEMPOTENCY_TABLE),
        lambda_context=context,
    )
    results = start_calls(uploaded_objects(event), deps)  # wraps it in Powertools' S3Event (imported there)
    return {"results": [dump(r) for r in results]}
