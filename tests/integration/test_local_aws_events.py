"""What AWS does on its own, emulated by local_aws.aws_events, against the local AWS process (python -m local_aws
serve): Step Functions status-change events on the default bus (EventBridge rule -> SQS), StopExecution that
aborts at once, and the Lambda SQS poller (redelivery after the visibility timeout, redrive to the DLQ,
ReportBatchItemFailures, messages sent before the mapping). In-process Lambda mode, real-time waits."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile

import pytest

from local_aws.process import start_local_aws
from local_aws.waiting import wait_for

ROLE = "arn:aws:iam::123456789012:role/local"
ALL_STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

#: test Lambdas: each records what it received as an S3 object under <bucket>/<function>/<message id>/<receive n>
HANDLERS = '''
import json, os, time
import boto3

s3 = boto3.client("s3")


def _record(context, record):
    key = f"{context.function_name}/{record['messageId']}/{record['attributes']['ApproximateReceiveCount']}"
    s3.put_object(Bucket=os.environ["RECORD_BUCKET"], Key=key, Body=json.dumps(record).encode())


def always_fail(event, context):
    for record in event["Records"]:
        _record(context, record)
    raise RuntimeError("this consumer always fails")


def fail_bad_once(event, context):
    failures = []
    for record in event["Records"]:
        _record(context, record)
        if record["body"] == "bad" and record["attributes"]["ApproximateReceiveCount"] == "1":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def succeed(event, context):
    for record in event["Records"]:
        _record(context, record)
    return None


def slow(event, context):
    time.sleep(float(event.get("seconds", 3)))
    return {"slept": True}
'''


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers.py", HANDLERS)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    process = start_local_aws(tmp_path_factory.mktemp("local-aws-events"), lambda_mode="inprocess", wait_scale=1.0)
    try:
        bucket = "records-bucket"
        process.client("s3").create_bucket(Bucket=bucket)
        process.record_bucket = bucket
        process.client("iam").create_role(RoleName="local", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))
        yield process
    finally:
        process.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_function(aws, handler: str, timeout: int = 30) -> str:
    name = unique(handler.replace("_", "-"))
    aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=f"handlers.{handler}", Code={"ZipFile": _zip()},
        Timeout=timeout, Environment={"Variables": {"RECORD_BUCKET": aws.record_bucket}})
    return name


def make_queue(aws, *, visibility: int = 1, dlq_arn: str | None = None, max_receives: int = 3) -> tuple[str, str]:
    sqs = aws.client("sqs")
    attributes = {"VisibilityTimeout": str(visibility)}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    url = sqs.create_queue(QueueName=unique("q"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def records_of(aws, function: str) -> list[dict]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=aws.record_bucket, Prefix=f"{function}/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=aws.record_bucket, Key=o["Key"])["Body"].read()) for o in listed]


def machine_with_rule(aws, definition: dict, statuses: list[str]) -> tuple[str, str]:
    """A state machine and an EventBridge rule on its status changes -> a fresh SQS queue (like ExecutionEndedUncaught
    -> WorkflowDlq in infra/workflow.py)."""
    sfn, events = aws.client("stepfunctions"), aws.client("events")
    machine = sfn.create_state_machine(name=unique("m"), definition=json.dumps(definition), roleArn=ROLE)
    queue_url, queue_arn = make_queue(aws, visibility=30)
    rule = unique("ended")
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [machine["stateMachineArn"]], "status": statuses}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return machine["stateMachineArn"], queue_url


def events_in(aws, queue_url: str, count: int, timeout: float = 30) -> list[dict]:
    sqs, got = aws.client("sqs"), []

    def enough():
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= count

    wait_for(enough, timeout, interval=0, what=f"{count} status-change event(s)")
    return got


# ---- Step Functions status-change events ------------------------------------------------------------------
def test_a_timed_out_execution_is_announced_with_the_aws_event_shape(aws):
    machine, queue = machine_with_rule(aws, {"StartAt": "Hold", "TimeoutSeconds": 1,
                                             "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}},
                                       ["FAILED", "TIMED_OUT", "ABORTED"])
    execution_input = json.dumps({"call_id": "c-timeout"})
    arn = aws.client("stepfunctions").start_execution(stateMachineArn=machine, name="c-timeout",
                                                      input=execution_input)["executionArn"]

    [event] = events_in(aws, queue, 1)
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["resources"] == [arn]
    assert (event["account"], event["region"], event["version"]) == ("123456789012", "us-east-1", "0")
    detail = event["detail"]
    assert detail["status"] == "TIMED_OUT"
    assert (detail["executionArn"], detail["stateMachineArn"], detail["name"]) == (arn, machine, "c-timeout")
    assert detail["input"] == execution_input and detail["inputDetails"] == {"included": True}
    assert detail["output"] is None
    assert isinstance(detail["startDate"], int) and detail["stopDate"] - detail["startDate"] >= 1000
    assert aws.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "TIMED_OUT"


def test_every_status_change_is_emitted_with_error_cause_and_output(aws):
    machine, queue = machine_with_rule(aws, {"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                  "Default": "Done"},
        "Boom": {"Type": "Fail", "Error": "CallFailed", "Cause": "the recording is not audio"},
        "Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}, ALL_STATUSES)
    sfn = aws.client("stepfunctions")
    sfn.start_execution(stateMachineArn=machine, name="fails", input=json.dumps({"fail": True}))
    sfn.start_execution(stateMachineArn=machine, name="passes", input=json.dumps({"fail": False}))

    by_name: dict[str, list[dict]] = {}
    for event in events_in(aws, queue, 4):
        by_name.setdefault(event["detail"]["name"], []).append(event["detail"])
    failed = {d["status"]: d for d in by_name["fails"]}
    passed = {d["status"]: d for d in by_name["passes"]}
    assert set(failed) == {"RUNNING", "FAILED"} and set(passed) == {"RUNNING", "SUCCEEDED"}
    assert failed["RUNNING"]["stopDate"] is None
    assert (failed["FAILED"]["error"], failed["FAILED"]["cause"]) == ("CallFailed", "the recording is not audio")
    assert json.loads(passed["SUCCEEDED"]["output"]) == {"ok": True}
    assert passed["SUCCEEDED"]["outputDetails"] == {"included": True}


def test_stop_execution_aborts_at_once_while_a_task_runs_and_is_announced(aws):
    function = make_function(aws, "slow")
    function_arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    machine, queue = machine_with_rule(aws, {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": function_arn, "End": True}}}, ["ABORTED"])
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="stopped", input=json.dumps({"seconds": 8}))["executionArn"]
    wait_for(lambda: any(e["type"] == "TaskStateEntered" or e["type"].startswith("LambdaFunction")
                         for e in sfn.get_execution_history(executionArn=arn)["events"]), 10, what="the task")

    stopped = sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by hand")

    described = sfn.describe_execution(executionArn=arn)  # at once: the task is still sleeping
    assert described["status"] == "ABORTED"
    assert (described["error"], described["cause"]) == ("Operator", "stopped by hand")
    assert stopped["stopDate"] == described["stopDate"]
    [event] = events_in(aws, queue, 1)
    assert event["detail"]["status"] == "ABORTED" and event["detail"]["executionArn"] == arn
    assert (event["detail"]["error"], event["detail"]["cause"]) == ("Operator", "stopped by hand")


# ---- SQS -> Lambda event-source mappings -------------------------------------------------------------------
def test_a_failing_consumer_gets_the_message_again_after_the_visibility_timeout_then_the_dlq_has_it(aws):
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    dlq_url, dlq_arn = make_queue(aws, visibility=30)
    queue_url, queue_arn = make_queue(aws, visibility=1, dlq_arn=dlq_arn, max_receives=3)
    function = make_function(aws, "always_fail")
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, BatchSize=5)

    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="poison",
                            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})

    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"), 60,
                    interval=0, what="the message in the DLQ")
    assert dead[0]["MessageId"] == sent["MessageId"] and dead[0]["Body"] == "poison"
    received = sorted(records_of(aws, function), key=lambda r: int(r["attributes"]["ApproximateReceiveCount"]))
    assert [r["attributes"]["ApproximateReceiveCount"] for r in received] == ["1", "2", "3"]
    first, last = received[0], received[-1]
    assert first["messageId"] == sent["MessageId"] and first["eventSourceARN"] == queue_arn
    assert first["messageAttributes"]["kind"]["stringValue"] == "test"
    # the same message received again (its first-receive time stays), not a copy
    assert last["attributes"]["ApproximateFirstReceiveTimestamp"] == first["attributes"][
        "ApproximateFirstReceiveTimestamp"]
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None


def test_report_batch_item_failures_deletes_the_good_and_redelivers_the_reported(aws):
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    queue_url, queue_arn = make_queue(aws, visibility=1)
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "g", "MessageBody": "good"},
                                                        {"Id": "b", "MessageBody": "bad"}])
    function = make_function(aws, "fail_bad_once")
    # created after the messages were sent: the poller still delivers them (moto never did)
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, BatchSize=10,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])

    def settled():
        got = records_of(aws, function)
        return got if sum(r["body"] == "bad" for r in got) >= 2 else None

    received = wait_for(settled, 60, interval=0.5, what="the reported message to come back")
    assert sorted(r["attributes"]["ApproximateReceiveCount"] for r in received if r["body"] == "bad") == ["1", "2"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in received if r["body"] == "good"] == ["1"]
    time.sleep(1.5)  # past one more visibility timeout: nothing left to redeliver
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_disabled_mapping_delivers_nothing_until_enabled(aws):
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    deleted_before = aws.stats()["sqs_event_sources"]["deleted"]  # the fixture is shared by the module's tests
    queue_url, queue_arn = make_queue(aws, visibility=1)
    function = make_function(aws, "succeed")
    mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, Enabled=False)
    sqs.send_message(QueueUrl=queue_url, MessageBody="later")
    time.sleep(1.5)
    assert records_of(aws, function) == []

    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    [record] = wait_for(lambda: records_of(aws, function), 30, interval=0.3, what="delivery once enabled")
    assert record["body"] == "later"
    assert wait_for(lambda: aws.stats()["sqs_event_sources"]["deleted"] > deleted_before, 30, interval=0.3,
                    what="the delivered message deleted")
