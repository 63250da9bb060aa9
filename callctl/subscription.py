"""A temporary SQS queue subscribed to an SNS topic: how `watch`, the demo and the tests see notifications."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_aws.waiting import wait_for


@dataclass
class Notification:
    message: dict | str
    attributes: dict[str, str]
    subject: str | None
    message_id: str

    @property
    def status(self) -> str | None:
        if "status" in self.attributes:
            return self.attributes["status"]
        return self.message.get("status") if isinstance(self.message, dict) else None

    @property
    def call_id(self) -> str | None:
        return self.message.get("call_id") if isinstance(self.message, dict) else None


class TopicSubscription:
    """Creates a queue, lets the topic write to it, subscribes it; `close()` removes all of it."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, name_prefix: str = "callctl-watch",
                 filter_policy: dict[str, Any] | None = None):
        self.sns, self.sqs, self.topic_arn = sns, sqs, topic_arn
        name = f"{name_prefix}-{uuid.uuid4().hex[:12]}"
        self.queue_url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "3600"})["QueueUrl"]
        try:
            queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
            sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
            extra = {"Attributes": {"FilterPolicy": json.dumps(filter_policy)}} if filter_policy else {}
            self.subscription_arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                                                  ReturnSubscriptionArn=True, **extra)["SubscriptionArn"]
        except BaseException:
            sqs.delete_queue(QueueUrl=self.queue_url)
            raise

    def receive(self, wait_seconds: int = 1, max_messages: int = 10) -> list[Notification]:
        response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=max_messages,
                                            WaitTimeSeconds=wait_seconds)
        out = []
        for raw in response.get("Messages", []):
            envelope = json.loads(raw["Body"])
            try:
                message = json.loads(envelope.get("Message", ""))
            except ValueError:
                message = envelope.get("Message", "")
            attributes = {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()}
            out.append(Notification(message, attributes, envelope.get("Subject"), envelope.get("MessageId", "")))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])
        return out

    def collect(self, until: Callable[[list[Notification]], bool], timeout: float) -> list[Notification]:
        """Receive until `until(received)` holds; TimeoutError after `timeout` seconds."""
        received: list[Notification] = []

        def done() -> bool:
            received.extend(self.receive(wait_seconds=1))
            return until(received)

        wait_for(done, timeout, interval=0, what="SNS notifications on the SQS subscription")
        return received

    def close(self) -> None:
        try:
            self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        finally:
            self.sqs.delete_queue(QueueUrl=self.queue_url)

    def __enter__(self) -> TopicSubscription:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
