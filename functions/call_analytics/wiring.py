"""The one place where real adapters are built (cached per container). Tests replace these factories."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

BOTO_CONNECT_TIMEOUT = 5
BOTO_READ_TIMEOUT = 30
#: an AssemblyAI call stops this long before the Lambda timeout (TransientError: Step Functions retries)
LAMBDA_DEADLINE_MARGIN_SECONDS = 5.0


@functools.cache
def boto_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=BOTO_CONNECT_TIMEOUT,
        read_timeout=BOTO_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": 4},
        signature_version="s3v4" if service == "s3" else None,
    )
    return boto3.client(service, config=config)


@functools.cache
def calls_table(table_name: str):
    from call_analytics.adapters.calls_table import CallsTable

    return CallsTable(table_name, boto_client("dynamodb"))


@functools.cache
def results_store():
    from call_analytics.adapters.results_store import ResultsStore

    return ResultsStore(boto_client("s3"))


@functools.cache
def notifier(topic_arn: str):
    from call_analytics.adapters.notifier import Notifier

    return Notifier(topic_arn, boto_client("sns"))


@functools.cache
def workflow(state_machine_arn: str):
    from call_analytics.adapters.workflow import Workflow

    return Workflow(state_machine_arn, boto_client("stepfunctions"))


@functools.cache
def profile_loader(bucket: str, prefix: str):
    from call_analytics.profiles.loader import ProfileLoader

    return ProfileLoader(results_store(), bucket, prefix)


def assemblyai_client(secret_arn: str, api_base_url: str | None = None, llm_base_url: str | None = None, *,
                      deadline: Callable[[], float] | None = None):
    """The container's AssemblyAI client (pooled Session), bound to this invocation's `deadline` when given
    (seconds left, see lambda_deadline): no request or backoff sleep runs past it."""
    client = _assemblyai_client(secret_arn, api_base_url, llm_base_url)
    return client.with_deadline(deadline) if deadline is not None else client


@functools.cache
def _assemblyai_client(secret_arn: str, api_base_url: str | None, llm_base_url: str | None):
    from call_analytics.adapters.assemblyai import AssemblyAIClient
    from call_analytics.adapters.secrets import load_api_key

    return AssemblyAIClient(
        lambda: load_api_key(secret_arn),  # Powertools caches the secret (300 s), so rotation is picked up
        api_base_url=api_base_url,
        llm_base_url=llm_base_url,
    )


def lambda_deadline(context: Any, margin: float = LAMBDA_DEADLINE_MARGIN_SECONDS) -> Callable[[], float] | None:
    """Seconds this invocation may still spend on calls: the Lambda's remaining time minus `margin` (to record
    state and answer before the Lambda timeout). None without a Lambda context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: remaining() / 1000.0 - margin


@functools.cache
def transcription_semaphore(table_name: str):
    from call_analytics.adapters.limits import TranscriptionSemaphore

    return TranscriptionSemaphore(table_name, boto_client("dynamodb"))


@functools.cache
def llm_rate_limiter(table_name: str):
    from call_analytics.adapters.limits import LlmRateLimiter

    return LlmRateLimiter(table_name, boto_client("dynamodb"))


@functools.cache
def callback_registry(table_name: str):
    from call_analytics.adapters.callbacks import CallbackRegistry

    return CallbackRegistry(table_name, boto_client("dynamodb"), boto_client("stepfunctions"))


def webhook_secret(secret_arn: str) -> str:
    from call_analytics.adapters.secrets import load_webhook_secret

    return load_webhook_secret(secret_arn)  # Powertools caches it (300 s)


@functools.cache
def idempotency_store(table_name: str):
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=boto_client("dynamodb"))


def reset() -> None:
    """Forget every cached client (tests: after entering/leaving a moto mock)."""
    for factory in (boto_client, calls_table, results_store, notifier, workflow, profile_loader, _assemblyai_client,
                    idempotency_store, transcription_semaphore, llm_rate_limiter, callback_registry):
        clear = getattr(factory, "cache_clear", None)  # a test may have replaced the factory
        if clear:
            clear()
