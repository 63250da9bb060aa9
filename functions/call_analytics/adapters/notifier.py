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
                attributes: dict[str, str | int] | None = None) -> str:
        extra = {name: ({"DataType": "Number", "StringValue": str(value)} if isinstance(value, int)
                        else {"DataType": "String", "StringValue": value})
                 for name, value in (attributes or {}).items() if value is not None and value != ""}
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
