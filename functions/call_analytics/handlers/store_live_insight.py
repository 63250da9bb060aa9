"""SQS (the live-insights topic's subscription, raw delivery) -> store_live_insight for each message. A malformed
message fails its record (reported back, retried, then moved to the queue's DLQ: kept, not dropped)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from call_analytics import wiring
from call_analytics.logic.live_insights import LiveInsightMessage, store_live_insight
from call_analytics.observability import logger, metrics, tracer
from call_analytics.redaction import redacted_errors
from call_analytics.settings import StoreLiveInsightSettings, load_settings

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


def record_handler(record: SQSRecord) -> bool:
    settings = load_settings(StoreLiveInsightSettings)
    message = LiveInsightMessage.model_validate(record.json_body)
    return store_live_insight(message, calls=wiring.calls_table(settings.CALLS_TABLE))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@redacted_errors
def handler(event: dict, context) -> dict:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    load_settings(StoreLiveInsightSettings)  # a broken environment fails the whole batch at once
    return process_partial_response(event=event, record_handler=record_handler, processor=_processor(),
                                    context=context)
