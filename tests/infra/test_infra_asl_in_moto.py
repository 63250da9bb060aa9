"""The synthesized state machine runs in moto's ASL interpreter (the local stack's engine): every Task is replaced
by a Pass with a scripted answer, so the Choices, the Pass copies, Wait SecondsPath and the Map item loop are
exercised exactly as synthesized (the Lambda code itself is tested in tests/unit)."""

from __future__ import annotations

import copy
import json
import time

import pytest

SUBMITTED = {"acquired": True, "wait_seconds": 0, "attempts": 1, "waited_seconds": 0, "transcript_id": "tr-1",
             "submitted_at": "2026-11-21T10:00:00+00:00", "estimated_duration": 45.0}
COMPLETED = {"status": "completed", "wait_seconds": 0, "polls": 1, "started_at": "2026-11-21T10:00:00+00:00"}
TRANSCRIPT = {"audio_duration": 45, "has_speech": True, "skip_reason": None, "analyses": ["phases", "sentiment"]}
DONE = {"analysis": "phases", "valid": True, "item_key": "results/c-1/phases.json", "status": "done", "requests": 1,
        "waits": 0, "waited_seconds": 0}
ANSWERS = {"SubmitTranscription": SUBMITTED, "CheckTranscript": COMPLETED, "FetchTranscript": TRANSCRIPT,
           "RunAnalysis": DONE, "FinalizeCall": {"status": "COMPLETED"}, "RecordFailure": {"status": "FAILED"}}
RECORDING = {"bucket": "b", "key": "recordings/a.wav", "version_id": None, "size": 10}


def with_scripted_tasks(definition: dict) -> dict:
    definition = copy.deepcopy(definition)

    def replace(states: dict) -> None:
        for name, state in states.items():
            processor = state.get("ItemProcessor")
            if processor:
                replace(processor["States"])
            if state["Type"] == "Task":
                keep = {k: v for k, v in state.items() if k in ("Next", "End", "ResultPath")}
                states[name] = {"Type": "Pass", "Result": ANSWERS[name], **keep}

    replace(definition["States"])
    definition.pop("TimeoutSeconds", None)
    return definition


@pytest.fixture(scope="module")
def run(synth):
    import boto3
    from moto import mock_aws

    definition = with_scripted_tasks(synth.state_machine()[2])
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="asl-check", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]

        def execute(name: str, state: dict) -> tuple[dict, list[str]]:
            execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(state))["executionArn"]
            deadline = time.monotonic() + 30
            while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
                assert time.monotonic() < deadline, "execution did not finish"
                time.sleep(0.05)
            assert described["status"] == "SUCCEEDED", described
            events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
            entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
            return json.loads(described["output"]), entered

        yield execute


def test_fresh_call_gets_a_slot_submits_polls_and_analyses(run):
    output, entered = run("fresh", {"call_id": "c-1", "profile": "default", "recording": RECORDING})
    assert entered[:5] == ["HasTranscript?", "SubmitTranscription", "SlotAcquired?", "TranscriptSubmitted",
                           "StartPolling"]
    assert output["transcript_id"] == "tr-1"  # copied from $.slot by the Pass
    assert output["slot"]["acquired"] is True and output["poll"]["status"] == "completed"
    assert entered.count("RunAnalysis") == 2 and entered.count("AnalysisDone") == 2
    assert [a["status"] for a in output["analyses"]] == ["done", "done"]
    assert entered[-1] == "FinalizeCall"


def test_redrive_with_a_completed_transcript_goes_straight_to_fetch(run):
    state = {"call_id": "c-1", "profile": "default", "recording": RECORDING, "transcript_id": "tr-1",
             "poll": {**COMPLETED, "polls": 0}}
    _, entered = run("redrive-completed", state)
    assert entered[:2] == ["HasTranscript?", "FetchTranscript"]
    assert not {"SubmitTranscription", "WaitForTranscript", "CheckTranscript"} & set(entered)


def test_redrive_with_an_unfinished_transcript_polls_it_without_submitting(run):
    state = {"call_id": "c-1", "profile": "default", "recording": RECORDING, "transcript_id": "tr-1",
             "poll": {"status": "queued", "wait_seconds": 0, "polls": 0, "started_at": "2026-11-21T10:00:00+00:00"}}
    _, entered = run("redrive-poll", state)
    assert entered[:3] == ["HasTranscript?", "WaitForTranscript", "CheckTranscript"]
    assert "SubmitTranscription" not in entered
