"""Asynchronous Lambda invocations (InvocationType=Event, S3 and SNS triggers), as AWS does them.

The caller gets control back at once; a worker pool runs the function. A failed invocation (error,
timeout) is retried ``max_retries`` times (AWS default 2) after ``retry_delays`` (AWS: about 1 and 2
minutes; scaled by ``--wait-scale`` like every other delay), then the event goes to the function's
dead-letter queue (SQS queue or SNS topic, with the attributes AWS adds: RequestID, ErrorCode,
ErrorMessage) and/or its on-failure destination (an invocation record, like AWS).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from local_aws.lambda_runner import FunctionConfig, InvocationResult

LOG = logging.getLogger("local_aws.async")
AWS_RETRY_DELAYS = (60.0, 120.0)


@dataclass(frozen=True)
class AsyncPolicy:
    max_retries: int = 2
    dead_letter_arn: str | None = None
    on_failure_arn: str | None = None


#: called once retries are exhausted: (function, event, last result, policy, attempts)
ExhaustedHandler = Callable[[FunctionConfig, Any, InvocationResult, AsyncPolicy, int], bool]


class AsyncInvoker:
    def __init__(self, invoke: Callable[[FunctionConfig, Any], InvocationResult], on_exhausted: ExhaustedHandler,
                 workers: int = 4, retry_delays: tuple[float, float] = AWS_RETRY_DELAYS):
        self._invoke = invoke
        self._on_exhausted = on_exhausted
        self._retry_delays = retry_delays
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lambda-async")
        self._cond = threading.Condition()
        self._pending = 0
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self.stats_counts = {"submitted": 0, "succeeded": 0, "retried": 0, "dead_lettered": 0, "dropped": 0}

    def submit(self, fn: FunctionConfig, event: Any, policy: AsyncPolicy) -> None:
        with self._cond:
            if self._closed:
                self.stats_counts["dropped"] += 1
                LOG.warning("async invoke of %s dropped: shutting down", fn.name)
                return
            self._pending += 1
            self.stats_counts["submitted"] += 1
        self._pool.submit(self._attempt, fn, event, policy, 0)

    def _attempt(self, fn: FunctionConfig, event: Any, policy: AsyncPolicy, attempt: int) -> None:
        try:
            result = self._invoke(fn, event)
            if not result.errored:
                self._count("succeeded")
                return self._done()
            if attempt < policy.max_retries and not self._closed:
                delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
                LOG.warning("async %s attempt %d failed (%s); retrying in %.1fs",
                            fn.name, attempt + 1, result.error_type, delay)
                self._count("retried")
                return self._schedule(delay, fn, event, policy, attempt + 1)
            LOG.error("async %s failed after %d attempts (%s)", fn.name, attempt + 1, result.error_type)
            try:
                delivered = self._on_exhausted(fn, event, result, policy, attempt + 1)
            except Exception:  # the event would be lost on AWS too; say so loudly
                LOG.exception("could not deliver the failed event of %s", fn.name)
                delivered = False
            self._count("dead_lettered" if delivered else "dropped")
            self._done()
        except Exception:
            LOG.exception("async invoke of %s crashed", fn.name)
            self._count("dropped")
            self._done()

    def _schedule(self, delay: float, *args: Any) -> None:
        def fire() -> None:
            with self._cond:
                self._timers.discard(timer)
                closed = self._closed
            if closed:
                self._count("dropped")
                self._done()
            else:
                self._pool.submit(self._attempt, *args)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._cond:
            self._timers.add(timer)
        timer.start()

    def _count(self, name: str) -> None:
        with self._cond:
            self.stats_counts[name] += 1

    def _done(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no async invocation is running or waiting for a retry."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stats(self) -> dict:
        with self._cond:
            return {**self.stats_counts, "pending": self._pending}

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _error_object(result: InvocationResult) -> dict:
    try:
        payload = json.loads(result.payload)
        return payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
    except ValueError:
        return {"errorMessage": result.payload}


def dead_letter_attributes(result: InvocationResult) -> dict[str, str]:
    """The message attributes AWS puts on a Lambda DLQ message."""
    message = _error_object(result).get("errorMessage", "")
    return {"RequestID": result.request_id, "ErrorCode": "200", "ErrorMessage": str(message)[:1024]}


def failure_record(fn: FunctionConfig, event: Any, result: InvocationResult, attempts: int) -> dict:
    """The invocation record AWS sends to an on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {"requestId": result.request_id, "functionArn": f"{fn.arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": _error_object(result),
    }
