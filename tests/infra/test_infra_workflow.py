"""The state machine definition: the slot wait loop, the polling loop, the LLM quota loop, retries by exception
name, Catch, timeouts."""

from __future__ import annotations

import pytest
from infra_template import all_states

THROTTLED_RETRY = {"ErrorEquals": ["ThrottledError"], "IntervalSeconds": 5, "BackoffRate": 2, "MaxAttempts": 6,
                   "JitterStrategy": "FULL"}
TRANSIENT_RETRY = {"ErrorEquals": ["TransientError", "Lambda.ServiceException", "Lambda.TooManyRequestsException",
                                   "Lambda.SdkClientException"],
                   "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 4}
#: a Lambda timeout (Sandbox.Timedout; Lambda.Unknown as AWS documents it) is retried too, fewer times
LAMBDA_TIMEOUT_RETRY = {"ErrorEquals": ["Sandbox.Timedout", "Lambda.Unknown"], "IntervalSeconds": 10,
                        "BackoffRate": 2, "MaxAttempts": 2, "JitterStrategy": "FULL"}
CATCH = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}


@pytest.fixture(scope="module")
def machine(synth):
    return synth.state_machine()


@pytest.fixture(scope="module")
def states(machine):
    return all_states(machine[2])


def test_standard_logged_traced(machine):
    _, props, definition = machine
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert "QueryLanguage" not in definition  # plain JSONPath (moto's interpreter has no JSONata)


def test_start_choice_skips_submission_for_a_redrive(machine, states):
    definition = machine[2]
    assert definition["StartAt"] == "HasTranscript?"
    choice = states["HasTranscript?"]
    completed, known = choice["Choices"]
    # a completed transcript goes straight to FetchTranscript, any other transcript id is polled
    assert completed["Next"] == "FetchTranscript"
    assert {"Variable": "$.poll.status", "StringEquals": "completed"} in completed["And"]
    assert known["Next"] == "WaitForTranscript"
    assert known["And"] == [{"Variable": "$.transcript_id", "IsPresent": True},
                            {"Variable": "$.transcript_id", "IsString": True}]
    assert choice["Default"] == "SubmitTranscription"


def test_slot_wait_loop(states):
    submit = states["SubmitTranscription"]
    assert submit["ResultPath"] == "$.slot" and submit["Next"] == "SlotAcquired?"
    acquired = states["SlotAcquired?"]
    (granted,) = acquired["Choices"]
    assert granted == {"Variable": "$.slot.acquired", "BooleanEquals": True, "Next": "TranscriptSubmitted"}
    wait = states[acquired["Default"]]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.slot.wait_seconds"
    assert wait["Next"] == "SubmitTranscription"  # the loop; SubmitTranscription raises SlotWaitExceeded at the budget
    # granted: the transcript id and the first poll wait (from the audio duration) move into place, then polling
    copied = states["TranscriptSubmitted"]
    assert (copied["Type"], copied["InputPath"], copied["ResultPath"]) == ("Pass", "$.slot.transcript_id",
                                                                           "$.transcript_id")
    start = states[copied["Next"]]
    assert start["ResultPath"] == "$.poll" and start["Next"] == "WaitForTranscript"
    assert start["Parameters"] == {"status": "queued", "wait_seconds.$": "$.slot.wait_seconds", "polls": 0,
                                   "started_at.$": "$.slot.submitted_at"}


def test_analysis_quota_and_outage_loop(states):
    run = states["RunAnalysis"]
    assert run["Next"] == "AnalysisThrottled?" and "ResultPath" not in run  # the answer replaces the item
    throttled = states["AnalysisThrottled?"]
    quota, outage = throttled["Choices"]
    assert {"Variable": "$.status", "StringEquals": "throttled"} in quota["And"]
    # the gateway keeps failing (5xx): the item waits as RunAnalysis says and runs again (issue 10 item 4)
    assert {"Variable": "$.status", "StringEquals": "retry"} in outage["And"]
    assert quota["Next"] == outage["Next"]
    wait = states[quota["Next"]]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.wait_seconds" and wait["Next"] == "RunAnalysis"
    assert states[throttled["Default"]]["Type"] == "Succeed"


def test_outages_are_waited_out_in_wait_states_around_every_api_task(states):
    """Issue 10 item 4: 429/5xx after the Lambda's short retries come back as answers with wait_seconds (the
    Retry-After), and a Wait state loops back to the same task; OutageBudgetExhausted ends it in RecordFailure."""
    # SubmitTranscription: {acquired: false, wait_seconds, outage} -> WaitForSlot -> SubmitTranscription
    assert states["SlotAcquired?"]["Default"] == "WaitForSlot"
    assert states["WaitForSlot"]["Next"] == "SubmitTranscription"
    # CheckTranscript: the last status + the outage wait in $.poll -> WaitForTranscript -> CheckTranscript
    assert states["TranscriptReady?"]["Default"] == "WaitForTranscript"
    # FetchTranscript: {status: retry, wait_seconds} in $.transcript -> WaitToFetch -> FetchTranscript
    fetch = states["FetchTranscript"]
    assert fetch["Next"] == "FetchRetry?"
    retry = states["FetchRetry?"]
    (rule,) = retry["Choices"]
    assert rule["And"] == [{"Variable": "$.transcript.status", "IsPresent": True},
                           {"Variable": "$.transcript.status", "StringEquals": "retry"}]
    wait = states[rule["Next"]]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == ("Wait", "$.transcript.wait_seconds", "FetchTranscript")
    assert retry["Default"] == "HasSpeech?"
    # the budget error is a deliberate name: never retried, caught into RecordFailure (FAILED with the reason)
    for name in ("SubmitTranscription", "CheckTranscript", "FetchTranscript", "RunAnalysis"):
        retried = {e for r in states[name]["Retry"] for e in r["ErrorEquals"]}
        assert "OutageBudgetExhausted" not in retried, name
    for name in ("SubmitTranscription", "CheckTranscript", "FetchTranscript", "RunAnalyses"):
        assert states[name]["Catch"] == [CATCH], name


def test_budget_errors_end_in_record_failure(states):
    # SlotWaitExceeded (SubmitTranscription) and AnalysisBudgetExhausted (inside the Map) are not retried ...
    for name in ("SubmitTranscription", "RunAnalysis"):
        retried = {e for r in states[name]["Retry"] for e in r["ErrorEquals"]}
        assert not retried & {"SlotWaitExceeded", "AnalysisBudgetExhausted", "States.ALL"}, name
    # ... and caught into RecordFailure (FAILED with the reason)
    for name in ("SubmitTranscription", "RunAnalyses"):
        assert states[name]["Catch"] == [CATCH], name


def test_polling_loop(machine, states):
    wait = states["WaitForTranscript"]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.poll.wait_seconds"
    assert wait["Next"] == "CheckTranscript"
    check = states["CheckTranscript"]
    assert check["ResultPath"] == "$.poll" and check["Next"] == "TranscriptReady?"
    ready = states["TranscriptReady?"]
    assert ready["Type"] == "Choice"
    branches = {c["StringEquals"]: c["Next"] for c in ready["Choices"] if c["Variable"] == "$.poll.status"}
    assert branches["completed"] == "FetchTranscript"
    assert ready["Default"] == "WaitForTranscript"  # queued / processing: poll again
    # a status `error` still ends in RecordFailure with a named error
    errored = states[branches["error"]]
    assert errored["ResultPath"] == "$.error" and errored["Result"]["Error"] == "TranscriptionFailed"
    assert errored["Next"] == "RecordFailure"


def test_fetch_speech_choice_map_finalize(synth, states):
    fetch = states["FetchTranscript"]
    assert fetch["ResultPath"] == "$.transcript" and states[fetch["Next"]]["Default"] == "HasSpeech?"
    has_speech = states["HasSpeech?"]
    assert has_speech["Choices"][0]["Next"] == "RunAnalyses"
    no_speech = states[has_speech["Default"]]
    assert no_speech["Next"] == "FinalizeCall" and no_speech["ResultPath"] == "$.analyses"
    run = states["RunAnalyses"]
    assert run["Type"] == "Map"
    assert run["ItemsPath"] == "$.transcript.analyses"
    assert run["ItemSelector"] == {"call_id.$": "$.call_id", "profile.$": "$.profile",
                                   "analysis.$": "$$.Map.Item.Value"}
    assert run["MaxConcurrency"] == synth.config.analysis_max_concurrency == 4
    assert run["ResultPath"] == "$.analyses" and run["Next"] == "FinalizeCall"
    assert states["FinalizeCall"].get("End") is True


def test_map_concurrency_is_configurable(alt_synth):
    assert all_states(alt_synth.state_machine()[2])["RunAnalyses"]["MaxConcurrency"] == 2


def test_every_task_retries_by_exception_name(states):
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert set(tasks) == {"SubmitTranscription", "CheckTranscript", "FetchTranscript", "RunAnalysis", "FinalizeCall",
                          "RecordFailure"}
    for name, task in tasks.items():
        assert task["Retry"] == [THROTTLED_RETRY, TRANSIENT_RETRY, LAMBDA_TIMEOUT_RETRY], name


def test_every_step_is_caught_into_record_failure_then_fail(states):
    for name in ("SubmitTranscription", "CheckTranscript", "FetchTranscript", "RunAnalyses", "FinalizeCall"):
        assert states[name]["Catch"] == [CATCH], name
    record = states["RecordFailure"]
    assert "Catch" not in record  # no loop: if recording fails the execution fails (and is dead-lettered)
    failed = states[record["Next"]]
    assert failed["Type"] == "Fail"
    assert (failed["Error"], failed["CausePath"]) == ("CallFailed", "$.error.Cause")


def test_tasks_invoke_plain_lambda_arns_with_timeouts(synth, states):
    functions = {logical_id: props for logical_id, props in synth.functions().values()}
    expected = {"SubmitTranscription": "submit_transcription", "CheckTranscript": "check_transcript",
                "FetchTranscript": "fetch_transcript",
                "RunAnalysis": "run_analysis", "FinalizeCall": "finalize_call", "RecordFailure": "record_failure"}
    for state_name, handler in expected.items():
        task = states[state_name]
        fn_id, fn_props = synth.functions()[handler]
        assert task["Resource"] == f"arn:{fn_id}"  # payload_response_only: no lambda:invoke wrapper
        assert fn_id in functions
        assert task["TimeoutSeconds"] > fn_props["Timeout"]


def test_execution_timeout_is_a_backstop_behind_every_budget(synth, alt_synth):
    for s in (synth, alt_synth):
        definition = s.state_machine()[2]
        cfg = s.config
        assert definition["TimeoutSeconds"] > (cfg.slot_wait_budget_seconds + cfg.transcription_timeout_seconds
                                               + cfg.poll_max_seconds + cfg.analysis_wait_budget_seconds)


def test_state_machine_role_invokes_only_its_functions(synth):
    _, props, _ = synth.state_machine()
    statements = synth.role_statements(props["RoleArn"])
    invoke = [s for s in statements if "lambda:InvokeFunction" in s["Action"]]
    targets = {r["Fn::GetAtt"][0] if "Fn::GetAtt" in r else r["Fn::Join"][1][0]["Fn::GetAtt"][0]
               for s in invoke for r in s["Resource"]}
    fns = synth.functions()
    assert targets == {fns[h][0] for h in ("submit_transcription", "check_transcript", "fetch_transcript",
                                           "run_analysis", "finalize_call", "record_failure")}
    assert fns["start_call"][0] not in targets


def test_uncaught_endings_are_dead_lettered(synth):
    logical_id, _, _ = synth.state_machine()
    (rule,) = synth.resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": logical_id}]
    assert set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    (target,) = rule["Properties"]["Targets"]
    dlq_id = target["Arn"]["Fn::GetAtt"][0]
    assert synth.raw["Outputs"]["WorkflowDlqUrl"]["Value"] == {"Ref": dlq_id}
    # ... and the queue is consumed by dead_letters, which records those calls FAILED and announces them
    fn_id = synth.functions()["dead_letters"][0]
    assert any(m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
               and m["Properties"]["FunctionName"] == {"Ref": fn_id}
               for m in synth.resources("AWS::Lambda::EventSourceMapping").values())
    # EventBridge may send to that queue (queue policy scoped to this rule)
    (rule_id,) = synth.resources("AWS::Events::Rule")
    policies = [p["Properties"] for p in synth.resources("AWS::SQS::QueuePolicy").values()
                if p["Properties"]["Queues"] == [{"Ref": dlq_id}]]
    sends = [st for p in policies for st in p["PolicyDocument"]["Statement"]
             if st["Effect"] == "Allow" and "sqs:SendMessage" in st["Action"]]
    assert sends and all(st["Principal"] == {"Service": "events.amazonaws.com"}
                         and st["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
                         for st in sends)
