"""The generic local AWS (moto + patches + local Lambda runtime + `cdk deploy`) on the PipelineDoubleStack
test double app (tests/integration/fixtures/pipeline_double): async S3 delivery, retries, Catch, timeouts,
on-failure destination, per-function env, Lambda-style errors, clean shutdown. Subprocess Lambda mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from callctl.subscription import TopicSubscription
from local_aws.cdk import synth
from local_aws.cdk_cli import CdkCli
from local_aws.process import REGION, start_local_aws
from local_aws.server import ACCOUNT_ID
from local_aws.waiting import wait_for

DOUBLE_APP = Path(__file__).parent / "fixtures" / "pipeline_double"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def double_stack(tmp_path_factory):
    assembly, _ = synth(DOUBLE_APP, REPO_ROOT / ".cache" / "test-synth", sources=("app.py", "lambda_src"),
                        environment=(ACCOUNT_ID, REGION))
    aws = start_local_aws(tmp_path_factory.mktemp("local-aws"), lambda_mode="subprocess", wait_scale=0.01)
    try:
        cdk = CdkCli(aws.endpoint_url, app_dir=DOUBLE_APP)
        cdk.bootstrap()
        cdk.deploy("PipelineDoubleStack", assembly=assembly)  # the genuine CLI, as for the real stack
        stack = aws.client("cloudformation").describe_stacks(StackName="PipelineDoubleStack")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        yield aws, outputs
    finally:
        aws.stop()


@pytest.fixture
def topic_messages(double_stack):
    aws, outputs = double_stack
    with TopicSubscription(aws.client("sns"), aws.client("sqs"), outputs["TopicArn"], "test") as subscription:
        yield subscription


def execution(aws, outputs, call_key: str) -> dict:
    items = aws.client("dynamodb").scan(TableName=outputs["TableName"])["Items"]
    item = next((i for i in items if i.get("key", {}).get("S") == call_key), None)
    return item


def finished_item(aws, outputs, key: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (i := execution(aws, outputs, key)) and "status" in i and i, timeout,
                    what=f"{key} to finish")


def test_upload_runs_the_workflow_with_a_decoded_unicode_key_and_version(double_stack, topic_messages):
    aws, outputs = double_stack
    key = "recordings/ünïcode call 1.wav"
    put = aws.client("s3").put_object(Bucket=outputs["BucketName"], Key=key, Body=b"audio")

    item = finished_item(aws, outputs, key)
    assert item["status"]["S"] == "COMPLETED"
    assert item["version_id"]["S"] == put["VersionId"]  # versioned bucket; event carries versionId
    assert item["setting"]["S"] == "from-template"  # the function's own env var from the template
    assert item["function"]["S"] == outputs["StartFunctionName"]
    assert json.loads(item["detail"]["S"])["check"]["remaining_ms_positive"] is True
    notes = topic_messages.collect(lambda got: any(n.status == "COMPLETED" for n in got), 30)
    assert any(n.message.get("call_id") == item["pk"]["S"] for n in notes)


def test_retry_on_a_named_exception_then_success(double_stack):
    aws, outputs = double_stack
    aws.client("s3").put_object(Bucket=outputs["BucketName"], Key="recordings/flaky.wav", Body=b"a")
    item = finished_item(aws, outputs, "recordings/flaky.wav")
    assert item["status"]["S"] == "COMPLETED"
    assert item["check_attempts"]["N"] == "3"  # two TransientError + the successful attempt


def test_catch_records_the_exception_class_name(double_stack):
    aws, outputs = double_stack
    aws.client("s3").put_object(Bucket=outputs["BucketName"], Key="recordings/bad.wav", Body=b"a")
    item = finished_item(aws, outputs, "recordings/bad.wav")
    assert item["status"]["S"] == "FAILED"
    error = json.loads(item["detail"]["S"])["error"]
    assert error["Error"] == "InvalidRecording"
    assert "not audio" in json.loads(error["Cause"])["errorMessage"]


def test_function_timeout_is_enforced_and_catchable(double_stack):
    aws, outputs = double_stack
    aws.client("s3").put_object(Bucket=outputs["BucketName"], Key="recordings/slow.wav", Body=b"a")
    item = finished_item(aws, outputs, "recordings/slow.wav", timeout=90)
    assert item["status"]["S"] == "FAILED"
    assert json.loads(item["detail"]["S"])["error"]["Error"] == "Sandbox.Timedout"


def test_failed_async_invocation_is_retried_then_sent_to_the_on_failure_destination(double_stack):
    aws, outputs = double_stack
    sqs = aws.client("sqs")
    aws.client("s3").put_object(Bucket=outputs["BucketName"], Key="recordings/crash.wav", Body=b"a")

    def dlq_message():
        return sqs.receive_message(QueueUrl=outputs["StartDlqUrl"], WaitTimeSeconds=1).get("Messages")

    record = json.loads(wait_for(dlq_message, 60, interval=0, what="the on-failure record")[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2  # the stack sets retry_attempts=1
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "recordings/crash.wav"
    assert execution(aws, outputs, "recordings/crash.wav")["start_attempts"]["N"] == "2"


def test_uploads_outside_the_notification_prefix_trigger_nothing(double_stack):
    aws, outputs = double_stack
    before = aws.stats()["async"]["submitted"]
    aws.client("s3").put_object(Bucket=outputs["BucketName"], Key="other/x.wav", Body=b"a")
    assert aws.wait_idle(30)
    assert aws.stats()["async"]["submitted"] == before


def test_direct_invoke_returns_a_lambda_style_error(double_stack):
    aws, outputs = double_stack
    response = aws.client("lambda").invoke(FunctionName=outputs["StartFunctionName"], Payload=b"{}")
    assert response["FunctionError"]
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "KeyError"
    assert error["stackTrace"]


def test_stop_leaves_no_process_behind(tmp_path):
    aws = start_local_aws(tmp_path, lambda_mode="subprocess")
    pid = aws.proc.pid
    assert aws.client("s3").list_buckets()["Buckets"] == []
    aws.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not [p for p in psutil.Process(os.getpid()).children(recursive=True) if p.pid == pid]
