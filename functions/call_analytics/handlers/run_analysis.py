"""Step Functions Map item RunAnalysis: {call_id, profile, analysis[, throttle]} in; out either
{analysis, valid, item_key, status: "done", requests, waits, waited_seconds} or, without LLM quota,
{call_id, profile, analysis, status: "throttled", wait_seconds, throttle, reason} (the item waits and loops)."""

from __future__ import annotations

from call_analytics import wiring
from call_analytics.logic.run_analysis import run_analysis
from call_analytics.models import AnalysisTask, dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import RunAnalysisSettings, load_settings


@logger.inject_lambda_context(correlation_id_path="call_id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    settings = load_settings(RunAnalysisSettings)
    task = AnalysisTask.model_validate(event)
    logger.append_keys(analysis=task.analysis)
    ref = run_analysis(
        task,
        settings=settings,
        aai=wiring.assemblyai_client(settings.ASSEMBLYAI_SECRET_ARN, None, settings.ASSEMBLYAI_LLM_BASE_URL,
                                     deadline=wiring.lambda_deadline(context)),
        store=wiring.results_store(),
        calls=wiring.calls_table(settings.CALLS_TABLE),
        profiles=wiring.profile_loader(settings.RECORDINGS_BUCKET, settings.PROFILES_PREFIX),
        limiter=wiring.llm_rate_limiter(settings.LIMITS_TABLE),
    )
    return dump(ref)
