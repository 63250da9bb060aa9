"""Notifications: the KMS-encrypted results topic and the dead-letter queues (StartCallDlq and WorkflowDlq, read by
the dead_letters function, which dead-letters into DeadLettersDlq)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

DLQ_RETENTION = Duration.days(14)  # the SQS maximum: time to fix and redrive
#: the dead_letters consumer's timeout; the queues it reads hide a message 6x as long (AWS's advice for SQS sources)
DEAD_LETTERS_TIMEOUT_SECONDS = 60
CONSUMED_VISIBILITY_TIMEOUT = Duration.seconds(6 * DEAD_LETTERS_TIMEOUT_SECONDS)
#: receives of one message by the consumer before SQS moves it to DeadLettersDlq
DEAD_LETTERS_MAX_RECEIVES = 5


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
        # what the dead_letters consumer could not handle after DEAD_LETTERS_MAX_RECEIVES attempts (kept 14 days)
        self.dead_letters_dlq = self._queue("DeadLettersDlq")
        acknowledge(self.dead_letters_dlq, "AwsSolutions-SQS3",
                    "The last queue of the chain: messages the dead_letters consumer failed on land here for a "
                    "person to inspect (output DeadLettersDlqUrl); there is nothing further to dead-letter into.")
        consumed = sqs.DeadLetterQueue(queue=self.dead_letters_dlq, max_receive_count=DEAD_LETTERS_MAX_RECEIVES)
        # start_call's async-invocation failures (after Lambda's own retries) land here, with the error;
        # dead_letters consumes them (records the calls FAILED and announces them)
        self.start_call_dlq = self._queue("StartCallDlq", dead_letter_queue=consumed)
        # executions that end outside the state machine's Catch (TIMED_OUT, ABORTED, RecordFailure failing);
        # dead_letters consumes them too
        self.workflow_dlq = self._queue("WorkflowDlq", dead_letter_queue=consumed)

    def _queue(self, construct_id: str, *, dead_letter_queue: sqs.DeadLetterQueue | None = None) -> sqs.Queue:
        return sqs.Queue(
            self, construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            visibility_timeout=CONSUMED_VISIBILITY_TIMEOUT if dead_letter_queue else None,
            dead_letter_queue=dead_letter_queue,
        )
