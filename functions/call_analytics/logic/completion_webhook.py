"""completion_webhook (optional, off by default): AssemblyAI's webhook wakes the execution waiting for its
transcript instead of a full poll wait; polling stays the backstop (docs/architecture.md, "Completion detection").

* submit_transcription sends `webhook_url` (the transcript_webhook function URL) and the auth header
  `WEBHOOK_AUTH_HEADER: <secret from Secrets Manager>` with the transcript request (`webhook_params`).
* WaitForTranscript is a `lambda:invoke.waitForTaskToken` task with TimeoutSecondsPath `$.poll.wait_seconds`:
  `await_transcript` stores the task token under the transcript id. No webhook in time -> States.Timeout ->
  CheckTranscript (the poll) as without the webhook.
* `handle_webhook` (POST {"transcript_id", "status"} + the header): wrong or missing secret -> 401; a body that is
  not a notification -> 400 (AssemblyAI does not retry 4xx); `completed`/`error` -> the waiting task gets
  SendTaskSuccess `{"source": "webhook", "status"}` and CheckTranscript confirms the status by polling once.
  Unknown transcript ids, repeated webhooks and tokens nobody waits on any more are harmless (200).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from call_analytics.models import (
    AwaitTranscriptRequest,
    AwaitTranscriptResult,
    TranscriptNotification,
    WebhookResult,
)
from call_analytics.observability import MetricUnit, logger, metrics

#: the header AssemblyAI adds to the webhook request (its value is the secret)
WEBHOOK_AUTH_HEADER = "X-Webhook-Secret"
#: the statuses AssemblyAI notifies about (contract 2.9); anything else (e.g. redacted_audio_ready) is ignored
FINAL_STATUSES = ("completed", "error")
#: task-token items outlive the longest transcript wait by this much (then TTL deletes them)
CALLBACK_TTL_MARGIN_SECONDS = 3600


def webhook_params(webhook_url: str, secret: str) -> dict[str, str]:
    """The fields added to POST /v2/transcript."""
    return {"webhook_url": webhook_url, "webhook_auth_header_name": WEBHOOK_AUTH_HEADER,
            "webhook_auth_header_value": secret}


def await_transcript(request: AwaitTranscriptRequest, *, registry: Any, ttl_seconds: int) -> AwaitTranscriptResult:
    """Store the token; if the webhook came first (its status is pending on the item), complete the task now."""
    item = registry.register(request.transcript_id, request.call_id, request.task_token,
                             ttl_seconds=ttl_seconds + CALLBACK_TTL_MARGIN_SECONDS)
    pending = item.get("pending")
    if pending and registry.claim(request.transcript_id, request.task_token):
        registry.send_success(request.task_token, {"source": "webhook", "status": pending})
        logger.info("webhook had come first: task completed at once", extra={"transcript_id": request.transcript_id})
        return AwaitTranscriptResult(call_id=request.call_id, transcript_id=request.transcript_id, outcome="woken")
    return AwaitTranscriptResult(call_id=request.call_id, transcript_id=request.transcript_id, outcome="registered")


def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Function URLs lower-case header names; compare case-insensitively anyway."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return value
    return None


def is_authorized(provided: str | None, expected: str) -> bool:
    """Constant-time comparison of the header value with the secret."""
    if not provided or not expected:
        return False
    return hmac.compare_digest(provided.encode(), expected.encode())


def handle_webhook(headers: Mapping[str, str] | None, body: str | None, *, secret: Callable[[], str], registry: Any,
                   ttl_seconds: int) -> WebhookResult:
    if not is_authorized(header_value(headers, WEBHOOK_AUTH_HEADER), secret()):
        metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
        logger.warning("webhook rejected: missing or wrong auth header")  # never log the value
        return WebhookResult(status_code=401, outcome="unauthorized")
    try:
        notification = TranscriptNotification.model_validate(json.loads(body or ""))
    except (ValueError, ValidationError):
        return WebhookResult(status_code=400, outcome="bad_request",
                             reason='expected a JSON body {"transcript_id", "status"}')
    transcript_id, status = notification.transcript_id, notification.status
    if status not in FINAL_STATUSES:
        return WebhookResult(status_code=200, outcome="ignored", transcript_id=transcript_id,
                             reason=f"status {status!r} is not a final transcript status")
    item = registry.record_webhook(transcript_id, status, ttl_seconds=ttl_seconds + CALLBACK_TTL_MARGIN_SECONDS)
    token = item.get("task_token")
    if not token or not registry.claim(transcript_id, token):
        # nobody waits right now (the wait state has not started yet, the execution polls or has moved on, or the
        # id is not ours): the status stays pending for the next wait; the poll is the backstop either way
        logger.info("webhook recorded; no waiting task", extra={"transcript_id": transcript_id, "status": status})
        return WebhookResult(status_code=200, outcome="recorded", transcript_id=transcript_id)
    if not registry.send_success(token, {"source": "webhook", "status": status}):
        logger.info("webhook: the task no longer waits", extra={"transcript_id": transcript_id})
        return WebhookResult(status_code=200, outcome="stale_token", transcript_id=transcript_id)
    metrics.add_metric(name="WebhookCallbacks", unit=MetricUnit.Count, value=1)
    logger.info("webhook woke the execution", extra={"transcript_id": transcript_id, "status": status,
                                                     "call_id": item.get("call_id")})
    return WebhookResult(status_code=200, outcome="delivered", transcript_id=transcript_id)
