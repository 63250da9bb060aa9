"""completion_webhook: task tokens of executions waiting for a transcript, keyed by transcript id, and the
SendTaskSuccess that wakes them.

One item per transcript in the limits table (docs/data-model.md): `pk = CALLBACK#<transcript_id>`, `sk = TOKEN`,
`task_token` (the waiting task's token), `call_id`, `pending` (a webhook's status not yet handed to any task),
`expires_at` (TTL). Whichever of the two sides comes second sees both attributes (each write returns the item)
and *claims* them with one conditional REMOVE; only one claim can succeed, so a webhook that beats the wait
state is not lost and a task is completed at most once per webhook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from call_analytics.adapters.aws_errors import CONDITION_FAILED, call_aws

CALLBACK_SK = "TOKEN"
#: SendTaskSuccess answers for a token that no task waits on any more (timed out, completed, execution ended)
STALE_TOKEN_CODES = frozenset({"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"})


def callback_pk(transcript_id: str) -> str:
    return f"CALLBACK#{transcript_id}"


class CallbackRegistry:
    def __init__(self, table_name: str, dynamodb: Any, stepfunctions: Any, *, clock: Callable[[], float] = time.time):
        self.table_name = table_name
        self.dynamodb = dynamodb
        self.stepfunctions = stepfunctions
        self._clock = clock

    def register(self, transcript_id: str, call_id: str, task_token: str, *, ttl_seconds: int) -> dict[str, str]:
        """Store the waiting task's token (replacing an older one); returns the item (`pending` = a webhook came)."""
        return self._update(
            transcript_id,
            "SET #token = :token, #call = :call, #registered = :now, #expires = :expires",
            {"#token": "task_token", "#call": "call_id", "#registered": "registered_at", "#expires": "expires_at"},
            {":token": {"S": task_token}, ":call": {"S": call_id}, ":now": {"N": str(int(self._clock()))},
             ":expires": {"N": str(int(self._clock()) + ttl_seconds)}},
            "register task token",
        )

    def record_webhook(self, transcript_id: str, status: str, *, ttl_seconds: int) -> dict[str, str]:
        """Note AssemblyAI's notification; returns the item (`task_token` = a task is waiting)."""
        return self._update(
            transcript_id,
            "SET #pending = :status, #notified = :now, #expires = :expires ADD #webhooks :one",
            {"#pending": "pending", "#notified": "notified_at", "#expires": "expires_at", "#webhooks": "webhooks"},
            {":status": {"S": status}, ":now": {"N": str(int(self._clock()))}, ":one": {"N": "1"},
             ":expires": {"N": str(int(self._clock()) + ttl_seconds)}},
            "record webhook",
        )

    def claim(self, transcript_id: str, task_token: str) -> bool:
        """Take the pending notification for this token (True for exactly one caller)."""
        claimed, _ = call_aws(lambda: self.dynamodb.update_item(
            TableName=self.table_name, Key=self._key(transcript_id),
            UpdateExpression="REMOVE #token, #pending",
            ConditionExpression="#token = :token AND attribute_exists(#pending)",
            ExpressionAttributeNames={"#token": "task_token", "#pending": "pending"},
            ExpressionAttributeValues={":token": {"S": task_token}},
        ), "DynamoDB claim callback", expected={CONDITION_FAILED})
        return claimed

    def send_success(self, task_token: str, output: dict[str, Any]) -> bool:
        """SendTaskSuccess; False when no task waits on the token any more (harmless: the poll catches up)."""
        sent, _ = call_aws(lambda: self.stepfunctions.send_task_success(taskToken=task_token,
                                                                         output=json.dumps(output)),
                           "SendTaskSuccess", expected=STALE_TOKEN_CODES)
        return sent

    # ---- plumbing ----------------------------------------------------------------------------
    def _update(self, transcript_id: str, expression: str, names: dict[str, str], values: dict[str, Any],
                what: str) -> dict[str, str]:
        _, response = call_aws(lambda: self.dynamodb.update_item(
            TableName=self.table_name, Key=self._key(transcript_id), UpdateExpression=expression,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
        ), f"DynamoDB {what}")
        item = (response or {}).get("Attributes") or {}
        return {k: next(iter(v.values())) for k, v in item.items()}

    @staticmethod
    def _key(transcript_id: str) -> dict[str, Any]:
        return {"pk": {"S": callback_pk(transcript_id)}, "sk": {"S": CALLBACK_SK}}
