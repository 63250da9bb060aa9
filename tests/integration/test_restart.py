"""`callctl up` stopped and started again: the calls, their results, the recordings, the profiles and the queued
messages are still there (local_aws.persistence), and a call that was in flight when the stack stopped ends FAILED
with the reason, is announced, and completes when re-driven."""

from __future__ import annotations

import json

import pytest
from test_pipeline import (  # noqa: F401 (samples is a fixture)
    CALL,
    call_record,
    samples,
    upload,
    wait_terminal,
)

from local_aws.assemblyai import AssemblyAiServer
from local_aws.persistence import stack_resources
from local_aws.stack import LocalStack, LocalStackOptions
from local_aws.waiting import wait_for

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 240
PROFILE = {"name": "kept-profile"}


def persistent_stack(aai_server, work_dir, wait_scale: float) -> LocalStack:
    server = AssemblyAiServer(aai_server.base_url, aai_server.api_key)
    return LocalStack(LocalStackOptions(work_dir=work_dir, lambda_mode="inprocess", wait_scale=wait_scale,
                                        assemblyai=server, real_api_key=None, write_state=False, persist=True))


def queue_url(stack: LocalStack, logical_prefix: str) -> str:
    return next(physical for logical, (_, physical) in stack_resources(stack.client, stack.stack_name).items()
                if logical.startswith(logical_prefix))


def test_a_restarted_stack_keeps_its_data_and_ends_interrupted_calls(aai_server, samples, tmp_path):  # noqa: F811
    work_dir = tmp_path / "local-stack"
    first = persistent_stack(aai_server, work_dir, wait_scale=1.0).start()  # real-time waits: B stays in flight
    try:
        done = upload(first, samples / CALL / "mono.wav", f"recordings/{CALL}-kept.wav")
        assert wait_terminal(first, done, timeout=CALL_TIMEOUT)["status"] == "COMPLETED"
        first.client("s3").put_object(Bucket=first.outputs["RecordingsBucketName"], Key="profiles/kept-profile.json",
                                      Body=json.dumps(PROFILE).encode())
        # a message nobody consumes: the dead-letter consumer's own DLQ
        parked = queue_url(first, "NotificationsDeadLettersDlq")
        first.client("sqs").send_message(QueueUrl=parked, MessageBody='{"parked": true}')
        in_flight = upload(first, samples / CALL / "mono.wav", f"recordings/{CALL}-interrupted.wav")
        wait_for(lambda: (r := call_record(first, in_flight)) and r["status"] in ("QUEUED", "TRANSCRIBING"), 60,
                 what="the second call to be in flight")
        old_bucket = first.outputs["RecordingsBucketName"]
    finally:
        first.stop()
    assert first.saved is not None and first.saved.items > 0 and first.saved.messages >= 1

    second = persistent_stack(aai_server, work_dir, wait_scale=0.05).start()
    try:
        assert second.restored is not None
        # the completed call, its results and its recording are back (under the new physical names)
        meta = call_record(second, done)
        assert meta["status"] == "COMPLETED"
        assert call_record(second, done, "ANALYSIS#phases")["result"]["phases"]
        bucket = second.outputs["RecordingsBucketName"]
        assert old_bucket not in json.dumps(meta, default=str)
        s3 = second.client("s3")
        s3.head_object(Bucket=bucket, Key=f"recordings/{CALL}-kept.wav")
        assert json.loads(s3.get_object(Bucket=bucket, Key="profiles/kept-profile.json")["Body"].read()) == PROFILE
        messages = second.client("sqs").receive_message(QueueUrl=queue_url(second, "NotificationsDeadLettersDlq"),
                                                        MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in messages] == ['{"parked": true}']
        # restoring the recordings started nothing new: one call per upload, as before
        items = second.client("dynamodb").scan(TableName=second.outputs["CallsTableName"])["Items"]
        assert sorted(i["pk"]["S"] for i in items if i["sk"]["S"] == "META") == sorted(
            [f"CALL#{done}", f"CALL#{in_flight}"])
        assert in_flight in second.restored.interrupted_calls and done not in second.restored.interrupted_calls
        failed = wait_terminal(second, in_flight, timeout=CALL_TIMEOUT)
        assert failed["status"] == "FAILED" and "stopped while the call was in progress" in failed["failure_reason"]

        from rich.console import Console

        from callctl import commands
        from callctl.local import target_of

        [started] = commands.redrive(target_of(second), Console(record=True, width=200), [in_flight], failed=False)
        assert started["outcome"] == "started", started
        assert wait_for(lambda: (r := call_record(second, in_flight)) and r["status"] == "COMPLETED" and r,
                        CALL_TIMEOUT, interval=0.5, what="the re-driven call")
    finally:
        second.stop()
