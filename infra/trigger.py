"""The upload trigger: S3 ObjectCreated under the recordings prefix invokes start_call (async). One notification
with the prefix filter only: S3 suffix filters are case-sensitive (`.Mp3` would start nothing and say nothing), so
start_call sees every upload and records the ones it cannot transcribe FAILED with the reason (unsupported file
type, empty), announced like any other failure. The accepted types: infra/names.py AUDIO_SUFFIXES."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

# CDK's singleton (Python) custom-resource handler that writes the bucket's notification configuration
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class RecordingTrigger(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, bucket: s3.Bucket,
        start_call: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(start_call),
            s3.NotificationKeyFilter(prefix=config.recordings_prefix),
        )
        handler = Stack.of(self).node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is not None:
            acknowledge(handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                 "AWSLambdaBasicExecutionRole]",
                        "CDK's built-in BucketNotifications custom-resource handler; its role is not configurable.")
            acknowledge(handler, "AwsSolutions-IAM5[Resource::*]",
                        "CDK's BucketNotifications handler needs s3:PutBucketNotification; CDK scopes it to '*'.")
