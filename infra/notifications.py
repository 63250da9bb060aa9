"""Notifications: the KMS-encrypted results topic and the dead-letter queues."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

DLQ_RETENTION = Duration.days(14)  # the SQS maximum: time to fix and redrive


class Notifications(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        retain = config.removal_policy == "retain"
        self.topic_key = kms.Key(
            self, "TopicKey",
            description="Encrypts the call-analytics results topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.topic = sns.Topic(
            self, "ResultsTopic",
            display_name="Call analytics results",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        # start_call's async-invocation failures (after Lambda's own retries) land here, with the error.
        self.start_call_dlq = self._dlq("StartCallDlq")
        # executions that end outside the state machine's Catch (TIMED_OUT, ABORTED, RecordFailure failing)
        self.workflow_dlq = self._dlq("WorkflowDlq")

    def _dlq(self, construct_id: str) -> sqs.Queue:
        queue = sqs.Queue(
            self, construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(queue, "AwsSolutions-SQS3",
                    "This queue is itself a dead-letter destination (Lambda on-failure destination / "
                    "EventBridge target); it has no queue of its own to dead-letter into.")
        return queue
