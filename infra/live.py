"""The live path in the stack: the KMS-encrypted live-insights topic the edge clients publish to (a FIFO variant with
`-c live_topic_fifo=true`), the queue (with its DLQ) that feeds store_live_insight, and the managed policy an edge
client's identity gets: publish to that topic, upload under the recordings prefix, nothing else
(docs/edge-client.md)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge, logical_id

#: store_live_insight's timeout; the queue hides a message 6x as long (AWS's advice for SQS event sources)
STORE_LIVE_INSIGHT_TIMEOUT_SECONDS = 30
LIVE_MAX_RECEIVES = 5
LIVE_RETENTION = Duration.days(14)


class LiveInsights(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        fifo = config.live_topic_fifo
        retain = config.removal_policy == "retain"
        self.key = kms.Key(
            self, "LiveTopicKey", description="Encrypts the call-analytics live-insights topic",
            enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.topic = sns.Topic(
            self, "LiveInsightsTopic", display_name="Call analytics live insights", master_key=self.key,
            enforce_ssl=True, fifo=fifo or None,
            # the edge client sends MessageDeduplicationId = dedup_key and MessageGroupId = call_id
            content_based_deduplication=False if fifo else None,
        )
        self.dlq = sqs.Queue(
            self, "LiveInsightsDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=LIVE_RETENTION, fifo=fifo or None,
        )
        acknowledge(self.dlq, "AwsSolutions-SQS3",
                    "The last queue of the live path: insights store_live_insight failed on land here for a person "
                    "to inspect (output LiveInsightsDlqUrl); there is nothing further to dead-letter into.")
        self.queue = sqs.Queue(
            self, "LiveInsightsQueue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=LIVE_RETENTION, fifo=fifo or None,
            visibility_timeout=Duration.seconds(6 * STORE_LIVE_INSIGHT_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=LIVE_MAX_RECEIVES),
        )
        # raw delivery: the message body is the edge client's JSON, its attributes become SQS message attributes
        self.topic.add_subscription(subscriptions.SqsSubscription(self.queue, raw_message_delivery=True))

        recordings = f"{config.recordings_prefix}*"
        self.edge_client_policy = iam.ManagedPolicy(
            self, "EdgeClientPolicy",
            description="Call-analytics edge client: publish live insights, upload recordings; nothing else",
            statements=[
                iam.PolicyStatement(sid="PublishLiveInsights", actions=["sns:Publish"],
                                    resources=[self.topic.topic_arn]),
                # publishing to a KMS-encrypted topic: the caller generates the data key with the topic key
                iam.PolicyStatement(sid="EncryptLiveInsights", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                                    resources=[self.key.key_arn]),
                iam.PolicyStatement(sid="UploadRecordings", actions=["s3:PutObject"],
                                    resources=[bucket.arn_for_objects(recordings)]),
            ],
        )
        acknowledge(self.edge_client_policy, f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/"
                    f"{recordings}]",
                    "Edge clients upload recordings under the recordings prefix (keys are agent/date/call id, "
                    "unknown in advance); PutObject only: no read, list or delete.")

