"""Unit-test setup: the Lambda asset root on sys.path, offline AWS (moto in-process), no outside sockets."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
UNIT_DIR = Path(__file__).resolve().parent
for path in (FUNCTIONS_DIR, UNIT_DIR):  # the Lambda asset root, and this folder for unit_fakes
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Powertools and boto3 defaults for tests (set before any handler module is imported)
os.environ.update(
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_SERVICE_NAME="call-analytics",
    POWERTOOLS_METRICS_NAMESPACE="CallAnalytics",
    POWERTOOLS_LOG_LEVEL="WARNING",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from unit_fakes import LIMITS_TABLE, FakeLambdaContext, create_limits_table  # noqa: E402

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"unit tests must not open sockets to {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_outside_sockets(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def _fresh_caches():
    from call_analytics import wiring
    from call_analytics.settings import clear_settings_cache

    clear_settings_cache()
    wiring.reset()
    yield
    clear_settings_cache()
    wiring.reset()


@pytest.fixture
def lambda_context():
    return FakeLambdaContext()


BUCKET = "recordings-bucket"
CALLS_TABLE = "calls"
IDEMPOTENCY_TABLE = "idempotency"
SECRET_NAME = "assemblyai-key"


@pytest.fixture
def aws(monkeypatch):
    """moto in-process with the resources of the stack, and every handler env var set."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=CALLS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "status", "updated_at")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "updated_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )
        ddb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        create_limits_table(ddb)
        sns = boto3.client("sns")
        topic_arn = sns.create_topic(Name="call-results")["TopicArn"]
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="results-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        sfn = boto3.client("stepfunctions")
        machine_arn = sfn.create_state_machine(
            name="call-pipeline",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name=SECRET_NAME, SecretString=json.dumps({"api_key": "test-key-123"})
        )["ARN"]
        env = {
            "CALLS_TABLE": CALLS_TABLE,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "RECORDINGS_BUCKET": BUCKET,
            "RESULTS_PREFIX": "results/",
            "PROFILES_PREFIX": "profiles/",
            "DEFAULT_PROFILE": "default",
            "STATE_MACHINE_ARN": machine_arn,
            "RESULTS_TOPIC_ARN": topic_arn,
            "ASSEMBLYAI_SECRET_ARN": secret_arn,
            "ASSEMBLYAI_API_BASE_URL": "http://127.0.0.1:9",
            "ASSEMBLYAI_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "AUDIO_DELIVERY": "presigned",
            "PRESIGN_TTL_SECONDS": "900",
            "POLL_INITIAL_SECONDS": "5",
            "POLL_MAX_SECONDS": "60",
            "POLL_BACKOFF": "2",
            "TRANSCRIPTION_TIMEOUT_SECONDS": "3600",
            "POLL_EXPECTED_RTF": "0.1",
            "LIMITS_TABLE": LIMITS_TABLE,
            "TRANSCRIPTION_CONCURRENCY": "2",
            "SLOT_WAIT_MAX_SECONDS": "60",
            "SLOT_WAIT_BUDGET_SECONDS": "600",
            "LLM_REQUESTS_PER_MINUTE": "30",
            "ANALYSIS_WAIT_BUDGET_SECONDS": "600",
            "AWS_LAMBDA_FUNCTION_NAME": "call-analytics-test",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        parameters.clear_caches()
        from call_analytics import wiring
        from call_analytics.settings import clear_settings_cache

        clear_settings_cache()
        wiring.reset()
        yield AwsResources(s3=s3, ddb=ddb, sqs=sqs, sfn=sfn, queue_url=queue_url, topic_arn=topic_arn,
                           machine_arn=machine_arn, secret_arn=secret_arn)
        parameters.clear_caches()


class AwsResources:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
        self.bucket = BUCKET
        self.calls_table = CALLS_TABLE
        self.limits_table = LIMITS_TABLE

    def notifications(self) -> list[dict]:
        """SNS messages delivered to the test queue: [{"message": {...}, "attributes": {...}}]."""
        out = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                envelope = json.loads(m["Body"])
                out.append({
                    "message": json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                })
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def executions(self) -> list[dict]:
        return self.sfn.list_executions(stateMachineArn=self.machine_arn)["executions"]

    def call_record(self, call_id: str) -> dict | None:
        from call_analytics.adapters.calls_table import CallsTable

        return CallsTable(CALLS_TABLE, self.ddb).get_call(call_id)


def pytest_configure(config):
    # error-path handler tests legitimately publish no metrics
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")
