"""Powertools singletons shared by every module (service name and namespace come from POWERTOOLS_* env vars)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["logger", "tracer", "metrics", "MetricUnit", "bind_call"]


def bind_call(call_id: str | None) -> None:
    """Make call_id the correlation id of every log line that follows."""
    if call_id:
        logger.set_correlation_id(call_id)
        logger.append_keys(call_id=call_id)
