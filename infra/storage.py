"""Storage: the recordings/results bucket (+ its access-log bucket), the calls table, the idempotency table,
the limits table (transcription semaphore + LLM request windows) and the AssemblyAI API key secret."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge
from infra.names import RESULTS_PREFIX

ACCESS_LOG_EXPIRATION_DAYS = 365


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        retain = config.removal_policy == "retain"
        self._removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.access_logs_bucket = self._build_access_logs_bucket()
        self.bucket = self._build_recordings_bucket()
        self.calls_table = self._build_calls_table(deletion_protection=retain)
        self.idempotency_table = self._build_idempotency_table()
        self.limits_table = self._build_limits_table()
        self.api_key_secret = self._build_api_key_secret()
        self.webhook_secret = self._build_webhook_secret() if config.completion_webhook else None

    def _build_access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self, "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs",
                                              expiration=Duration.days(ACCESS_LOG_EXPIRATION_DAYS))],
            removal_policy=self._removal,
        )
        acknowledge(bucket, "AwsSolutions-S1",
                    "This is the server access log bucket of the recordings bucket; logging it into itself "
                    "would loop.")
        return bucket

    def _build_recordings_bucket(self) -> s3.Bucket:
        rules = [
            s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
            s3.LifecycleRule(id="expire-old-versions",
                             noncurrent_version_expiration=Duration.days(
                                 self._config.noncurrent_version_expiration_days)),
            # results are re-read rarely after the first days: let S3 tier them
            s3.LifecycleRule(
                id="results-tiering", prefix=RESULTS_PREFIX,
                transitions=[s3.Transition(storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                                           transition_after=Duration.days(30))],
                expiration=(Duration.days(self._config.results_expiration_days)
                            if self._config.results_expiration_days else None),
            ),
        ]
        return s3.Bucket(
            self, "RecordingsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,  # one transcription per object version (call_id includes the versionId)
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="recordings-bucket/",
            lifecycle_rules=rules,
            removal_policy=self._removal,
        )

    def _build_calls_table(self, *, deletion_protection: bool) -> dynamodb.Table:
        table = dynamodb.Table(
            self, "CallsTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=deletion_protection,
            removal_policy=self._removal,
        )
        table.add_global_secondary_index(
            index_name="by_status",
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="updated_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        return table

    def _build_idempotency_table(self) -> dynamodb.Table:
        # Powertools idempotency layout: hash key `id`, TTL attribute `expiration`
        return dynamodb.Table(
            self, "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,  # only short-lived dedup records live here
        )

    def _build_limits_table(self) -> dynamodb.Table:
        # shared limits (docs/data-model.md): `SEM#transcription/STATE` (count + holders), `RATE#<model>/<window>`
        # (requests per 60 s window, deleted by TTL). Only counters live here: nothing to keep when the stack goes.
        return dynamodb.Table(
            self, "LimitsTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_api_key_secret(self) -> secretsmanager.Secret:
        # The template holds no key: CloudFormation generates a random placeholder, the operator sets the
        # real key with `aws secretsmanager put-secret-value` (docs/deploy.md).
        return self._generated_secret(
            "AssemblyAiApiKey", 32,
            "AssemblyAI API key (raw key or JSON {\"api_key\": ...}); set it with put-secret-value",
            "Third-party API key issued by AssemblyAI; it cannot be rotated by a Lambda. Rotate it in the "
            "AssemblyAI dashboard and put-secret-value the new key.")

    def _build_webhook_secret(self) -> secretsmanager.Secret:
        # completion_webhook: the value AssemblyAI sends back in the webhook's auth header. CloudFormation generates
        # it; the Lambdas read it at run time (never an env var, never in the template or the logs).
        return self._generated_secret(
            "WebhookSecret", 48,
            "Shared secret of the AssemblyAI completion webhook (header X-Webhook-Secret); generated",
            "Shared webhook secret sent with each transcript request. Rotate it with put-secret-value (a "
            "random value): transcripts submitted before then get 401 on their webhook and are detected "
            "by the polling backstop, so no rotation Lambda is needed.")

    def _generated_secret(self, construct_id: str, length: int, description: str,
                          no_rotation_reason: str) -> secretsmanager.Secret:
        """A secret whose value CloudFormation generates (never in the template), without a rotation Lambda."""
        secret = secretsmanager.Secret(
            self, construct_id, description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, include_space=False, password_length=length),
            removal_policy=self._removal,
        )
        acknowledge(secret, "AwsSolutions-SMG4", no_rotation_reason)
        return secret
