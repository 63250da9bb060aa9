"""An execution that ends outside the state machine's Catch (here: StopExecution) on the real stack: its
"Step Functions Execution Status Change" event reaches WorkflowDlq through the ExecutionEndedUncaught rule, the
SQS poller hands it to dead_letters, and the call ends FAILED with the reason, its transcription slot given back
and a notification (local_aws/aws_events.py emulates the events and the poller; moto had neither)."""

from __future__ import annotations

import pytest
import requests

from callctl.subscription import TopicSubscription
from local_aws.waiting import wait_for
from tests.integration.test_pipeline import (
    CALL,
    call_record,
    running_stack,
    stack_work_dir,
    upload,
    wait_terminal,
)
from tests.integration.test_pipeline import samples as samples  # noqa: F401 -- the module fixture, reused

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-events"), "inprocess")


@pytest.fixture
def held_transcriptions(aai_server):
    """The session's AssemblyAI server keeps every transcription processing for 10 minutes (restored after)."""
    headers = {"Authorization": aai_server.api_key}
    before = requests.get(f"{aai_server.base_url}/_local/config", headers=headers, timeout=30).json()["jobs"]
    requests.post(f"{aai_server.base_url}/_local/config", json={"jobs": {"min_processing_seconds": 600}},
                  headers=headers, timeout=30).raise_for_status()
    yield
    requests.post(f"{aai_server.base_url}/_local/config",
                  json={"jobs": {"min_processing_seconds": before.get("min_processing_seconds", 0)}},
                  headers=headers, timeout=30).raise_for_status()


def slot_holders(stack) -> set[str]:
    items = stack.client("dynamodb").scan(TableName=stack.outputs["LimitsTableName"])["Items"]
    return {call_id for item in items for call_id in item.get("holders", {}).get("M", {})}


def test_a_stopped_execution_fails_the_call_gives_back_its_slot_and_is_announced(stack, samples,  # noqa: F811
                                                                                 held_transcriptions):
    with TopicSubscription(stack.client("sns"), stack.client("sqs"), stack.outputs["ResultsTopicArn"],
                           "stopped") as notifications:
        call_id = upload(stack, samples / CALL / "mono.wav", "recordings/stopped-by-operator.wav")
        record = wait_for(lambda: (r := call_record(stack, call_id)) and r.get("status") == "TRANSCRIBING"
                          and r.get("execution_arn") and r, 120, interval=0.5, what="the call to be transcribing")
        assert call_id in slot_holders(stack)

        stack.client("stepfunctions").stop_execution(executionArn=record["execution_arn"], error="OperatorStop",
                                                     cause="stopped by the test")

        ended = wait_terminal(stack, call_id, timeout=120)
        assert ended["status"] == "FAILED"
        assert "ABORTED" in ended["failure_reason"] and "OperatorStop" in ended["failure_reason"]
        assert call_id not in slot_holders(stack)
        notes = notifications.collect(lambda got: any(n.call_id == call_id for n in got), 60)
        assert [n.status for n in notes if n.call_id == call_id] == ["FAILED"]
