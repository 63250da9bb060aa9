"""SQS (StartCallDlq, WorkflowDlq) -> dead_letters for each message. Partial batch responses: a message that fails
is reported back (ReportBatchItemFailures), retried by SQS, and after maxReceiveCount moved to DeadLettersDlq."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from call_analytics import wiring
from call_analytics.logic.dead_letters import DeadLetterDeps, handle_dead_letter
from call_analytics.models import dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import DeadLettersSettings, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


@functools.cache
def _processor() -> BatchProcessor:
    """The container's SQS batch processor, built at the first invocation (Powertools' batch utility loads
    asyncio and every event data class: too heavy for the cold import)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS)


def __getattr__(name: str):
    if name == "processor":  # the module's `processor`, as before, built on first access
        return _processor()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _deps() -> DeadLetterDeps:
    settings = load_settings(DeadLettersSettings)
    return DeadLetterDeps(
        settings=settings,
        calls=wiring.calls_table(settings.CALLS_TABLE),
        notifier=wiring.notifier(settings.RESULTS_TOPIC_ARN),
        workflow=wiring.workflow(settings.STATE_MACHINE_ARN),
        semaphore=wiring.transcription_semaphore(settings.LIMITS_TABLE),
    )


def record_handler(record: SQSRecord) -> list[dict]:
    results = handle_dead_letter(record.json_body, _deps())
    for result in results:
        logger.info("dead letter handled", extra={"message_id": record.message_id, **dump(result)})
    return [dump(r) for r in results]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    _deps()  # a broken environment fails the whole batch at once (settings are validated here)
    return process_partial_response(event=event, record_handler=record_handler, processor=_processor(),
                                    context=context)
