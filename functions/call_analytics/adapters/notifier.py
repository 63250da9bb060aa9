"""SNS publication of call results/failures with `status` and `profile` message attributes (plus any `attributes`,
e.g. `analyses_valid` on a finished call: docs/data-model.md)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from call_analytics.adapters.aws_errors import translate


class Notifier:
    def __init__(self, topic_arn: str, client: Any):
        self.topic_arn = topic_arn
        self.client = client

    def publish(self, message: dict[str, Any], *, status: str, profile: str | None,
                attributes: dict[str, str | int | list[str]] | None = None) -> str:
        extra = {name: _attribute(value) for name, value in (attributes or {}).items()
                 if value is not None and value != ""}
        attributes = {**extra, "status": {"DataType": "String", "StringValue": status}}
        if profile:
            attributes["profile"] = {"DataType": "String", "StringValue": profile}
        subject = f"Call {message.get('call_id', '?')} {status}"[:100]
        try:
            response = self.client.publish(
                TopicArn=self.topic_arn,
                Message=json.dumps(message, ensure_ascii=False),
                Subject=subject,
                MessageAttributes=attributes,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "SNS publish") from None
        return response["MessageId"]


def _attribute(value: str | int | list[str]) -> dict[str, str]:
    """An SNS message attribute: int -> Number, list -> String.Array (a filter policy matches any element)."""
    if isinstance(value, list):
        return {"DataType": "String.Array", "StringValue": json.dumps(value)}
    if isinstance(value, int):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String", "StringValue": value}
