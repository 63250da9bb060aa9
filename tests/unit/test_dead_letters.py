"""dead_letters against moto: start_call's on-failure records and Step Functions status-change events become FAILED
calls, announced once; completed, running and re-driven calls are left alone; a call start_call never started is
re-driven from its stored recording. (moto emits no Step Functions EventBridge events: the events are built here in
the documented shape.)"""

from __future__ import annotations

import json

import pytest
from call_analytics.recordings import call_id_for
from test_handler_start_call import upload, wav_bytes

KEY = "recordings/2026/Call with Dana + refund é.wav"


def on_failure_record(s3_event: dict, *, error_type: str | None = "TransientError",
                      message: str = "StartExecution failed: ServiceUnavailable: try later",
                      condition: str = "RetriesExhausted") -> dict:
    """Lambda's on-failure destination record for an async invocation of start_call (the documented shape)."""
    record = {
        "version": "1.0", "timestamp": "2026-11-21T10:05:00.000Z",
        "requestContext": {"requestId": "0f1e2d3c-1111-2222-3333-444455556666", "condition": condition,
                           "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:StartCall:$LATEST"},
        "requestPayload": s3_event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    }
    if error_type:
        record["responsePayload"] = {"errorType": error_type, "errorMessage": message, "stackTrace": []}
    return record


def status_change(aws, name: str, status: str, state_input: dict | None, *, seconds: int = 3600,
                  error: str | None = None, cause: str | None = None) -> dict:
    """EventBridge "Step Functions Execution Status Change", as the rule delivers it to WorkflowDlq."""
    machine = aws.machine_arn.split(":")
    execution_arn = ":".join(machine[:5] + ["execution", machine[6], name])
    start = 1_795_000_000_000
    return {
        "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2026-11-21T11:00:00Z", "region": "us-east-1",
        "resources": [execution_arn],
        "detail": {"executionArn": execution_arn, "stateMachineArn": aws.machine_arn, "name": name,
                   "status": status, "startDate": start, "stopDate": start + seconds * 1000,
                   "input": json.dumps(state_input) if state_input is not None else None,
                   "inputDetails": {"included": state_input is not None}, "output": None,
                   "error": error, "cause": cause},
    }


def sqs_event(*bodies) -> dict:
    return {"Records": [{
        "messageId": f"m-{index}", "receiptHandle": f"rh-{index}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795000000000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795000000001"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:StartCallDlq", "awsRegion": "us-east-1",
    } for index, body in enumerate(bodies)]}


def consume(event: dict, context) -> dict:
    from call_analytics.handlers.dead_letters import handler

    return handler(event, context)


def deps(aws):
    from call_analytics import wiring
    from call_analytics.logic.dead_letters import DeadLetterDeps
    from call_analytics.settings import DeadLettersSettings, load_settings

    settings = load_settings(DeadLettersSettings)
    return DeadLetterDeps(settings=settings, calls=wiring.calls_table(settings.CALLS_TABLE),
                          notifier=wiring.notifier(settings.RESULTS_TOPIC_ARN),
                          workflow=wiring.workflow(settings.STATE_MACHINE_ARN),
                          semaphore=wiring.transcription_semaphore(settings.LIMITS_TABLE))


def handle(aws, body: dict):
    from call_analytics.logic.dead_letters import handle_dead_letter

    return handle_dead_letter(body, deps(aws))


def calls(aws):
    from call_analytics.adapters.calls_table import CallsTable

    return CallsTable(aws.calls_table, aws.ddb)


def semaphore(aws):
    from call_analytics.adapters.limits import TranscriptionSemaphore

    return TranscriptionSemaphore(aws.limits_table, aws.ddb)


def started_call(aws, call_id: str, *, execution: str | None = None, **fields) -> dict:
    """A call record as start_call leaves it once its execution started."""
    machine = aws.machine_arn.split(":")
    arn = ":".join(machine[:5] + ["execution", machine[6], execution or call_id])
    table = calls(aws)
    table.create_call(call_id, status="RECEIVED", detail="upload received", recording_bucket=aws.bucket,
                      recording_key="recordings/a.wav", recording_size=44)
    table.set_status(call_id, "QUEUED", fields={"execution_arn": arn, "profile": "default", **fields})
    return {"call_id": call_id, "profile": "default",
            "recording": {"bucket": aws.bucket, "key": "recordings/a.wav", "version_id": None, "size": 44}}


# ---- start_call gave up -----------------------------------------------------------------------------
def test_start_call_failure_records_the_call_failed_and_announces_it_once(aws, lambda_context):
    s3_event = upload(aws, KEY, wav_bytes())
    obj = s3_event["Records"][0]["s3"]["object"]
    call_id = call_id_for(aws.bucket, KEY, None, obj["eTag"])  # the decoded key, as start_call derives it
    message = on_failure_record(s3_event)

    response = consume(sqs_event(message), lambda_context)

    assert response == {"batchItemFailures": []}
    record = aws.call_record(call_id)
    assert record["status"] == "FAILED" and record["failure_error"] == "TransientError"
    assert record["failure_reason"] == ("start_call gave up after 3 attempts (RetriesExhausted): TransientError: "
                                        "StartExecution failed: ServiceUnavailable: try later")
    # everything a re-drive needs to start the call from scratch
    assert (record["recording_bucket"], record["recording_key"], record["recording_etag"],
            record["recording_size"]) == (aws.bucket, KEY, obj["eTag"], obj["size"])
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "FAILED"}  # no profile was chosen yet
    assert note["message"]["call_id"] == call_id and note["message"]["error"]["type"] == "TransientError"
    assert note["message"]["recording"] == {"bucket": aws.bucket, "key": KEY, "version_id": None}

    # the same message again (SQS delivers at least once): nothing new
    assert consume(sqs_event(message), lambda_context) == {"batchItemFailures": []}
    assert aws.notifications() == []
    assert [h["status"] for h in aws.call_record(call_id)["history"]] == ["FAILED"]


def test_throttled_event_that_aged_out_has_no_response_payload(aws):
    s3_event = upload(aws, "recordings/aged.wav", wav_bytes())
    [result] = handle(aws, on_failure_record(s3_event, error_type=None, condition="EventAgeExceeded"))
    assert result.outcome == "failed" and result.notified
    record = aws.call_record(result.call_id)
    assert record["failure_error"] == "EventAgeExceeded"
    assert "throttled for longer than its maximum age" in record["failure_reason"]


def test_start_call_failure_leaves_completed_and_started_calls_alone(aws):
    s3_event = upload(aws, "recordings/a.wav", wav_bytes())
    obj = s3_event["Records"][0]["s3"]["object"]
    call_id = call_id_for(aws.bucket, "recordings/a.wav", None, obj["eTag"])
    started_call(aws, call_id)
    message = on_failure_record(s3_event)

    [running] = handle(aws, message)  # e.g. the S3 event was duplicated and one copy succeeded
    assert (running.outcome, running.call_id) == ("running", call_id)
    assert aws.call_record(call_id)["status"] == "QUEUED"

    calls(aws).set_status(call_id, "COMPLETED", fields={"completion_notified": True})
    before = aws.call_record(call_id)
    [completed] = handle(aws, message)
    assert completed.outcome == "completed"
    assert aws.call_record(call_id) == before  # untouched
    assert aws.notifications() == []


def test_start_call_failure_after_the_execution_started_is_left_to_the_execution(aws):
    # start_call started the execution, then failed before it could record it (record still RECEIVED)
    s3_event = upload(aws, "recordings/b.wav", wav_bytes())
    call_id = call_id_for(aws.bucket, "recordings/b.wav", None, s3_event["Records"][0]["s3"]["object"]["eTag"])
    calls(aws).create_call(call_id, status="RECEIVED", recording_bucket=aws.bucket, recording_key="recordings/b.wav")
    aws.sfn.start_execution(stateMachineArn=aws.machine_arn, name=call_id, input=json.dumps({"call_id": call_id}))

    [result] = handle(aws, on_failure_record(s3_event))

    assert result.outcome == "running" and call_id in result.reason
    assert aws.call_record(call_id)["status"] == "RECEIVED" and aws.notifications() == []


def test_non_recordings_in_the_payload_are_skipped(aws):
    s3_event = upload(aws, "results/c-1/transcript.json", b"{}")
    [result] = handle(aws, on_failure_record(s3_event))
    assert result.outcome == "skipped" and result.call_id is None
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": aws.bucket}
    [result] = handle(aws, on_failure_record(test_event))
    assert (result.outcome, result.reason) == ("skipped", "s3:TestEvent")
    assert aws.notifications() == []


def test_a_payload_that_is_not_an_s3_event_is_an_error_not_a_silent_skip(aws):
    from call_analytics.errors import PermanentError

    with pytest.raises(PermanentError, match="not an S3 event"):
        handle(aws, on_failure_record({"detail": "something else"}))


# ---- executions that ended outside the Catch ----------------------------------------------------------
def test_timed_out_execution_fails_the_call_releases_its_slot_and_announces_once(aws, lambda_context):
    call_id = "c-aaaabbbbccccddddeeee"
    state = started_call(aws, call_id, transcript_id="tr-9")
    assert semaphore(aws).acquire(call_id, 2)
    event = status_change(aws, call_id, "TIMED_OUT", state, seconds=133_200)

    assert consume(sqs_event(event), lambda_context) == {"batchItemFailures": []}

    record = aws.call_record(call_id)
    assert record["status"] == "FAILED" and record["failure_error"] == "States.Timeout"
    assert record["failure_reason"] == "workflow TIMED_OUT after 133200 s"
    assert record["transcript_id"] == "tr-9"  # kept: a re-drive polls it again
    assert semaphore(aws).holders() == {} and semaphore(aws).count() == 0
    [note] = aws.notifications()
    assert note["attributes"] == {"status": "FAILED", "profile": "default"}
    assert note["message"]["error"] == {"type": "States.Timeout", "reason": "workflow TIMED_OUT after 133200 s"}

    consume(sqs_event(event), lambda_context)  # redelivered
    assert aws.notifications() == [] and aws.call_record(call_id)["history"][-1]["status"] == "FAILED"


def test_execution_that_went_through_record_failure_is_not_announced_twice(aws, lambda_context):
    from call_analytics.handlers.record_failure import handler as record_failure

    call_id = "c-1111222233334444aaaa"
    state = started_call(aws, call_id)
    failure = {"Error": "TranscriptionFailed", "Cause": json.dumps({"errorMessage": "audio too short"})}
    record_failure({**state, "error": failure}, lambda_context)
    assert len(aws.notifications()) == 1
    event = status_change(aws, call_id, "FAILED", state, seconds=40, error="TranscriptionFailed",
                          cause=failure["Cause"])

    [result] = handle(aws, event)

    assert result.outcome == "already_failed" and not result.notified
    assert aws.call_record(call_id)["failure_reason"] == "TranscriptionFailed: audio too short"  # first reason kept
    assert aws.notifications() == []


def test_failed_execution_whose_record_failure_broke_is_recorded_with_the_execution_error(aws):
    call_id = "c-5555666677778888bbbb"
    state = started_call(aws, call_id)
    event = status_change(aws, call_id, "FAILED", state, seconds=12, error="Lambda.Unknown",
                          cause=json.dumps({"errorMessage": "RecordFailure timed out"}))
    [result] = handle(aws, event)
    assert result.outcome == "failed"
    record = aws.call_record(call_id)
    assert record["failure_error"] == "Lambda.Unknown"
    assert record["failure_reason"] == "workflow FAILED after 12 s: Lambda.Unknown: RecordFailure timed out"


def test_completed_call_is_untouched_by_an_execution_event(aws):
    call_id = "c-9999000011112222cccc"
    state = started_call(aws, call_id)
    assert semaphore(aws).acquire("c-somebody-else", 2)
    calls(aws).set_status(call_id, "COMPLETED", fields={"completion_notified": True})
    before = aws.call_record(call_id)
    [result] = handle(aws, status_change(aws, call_id, "ABORTED", state))
    assert result.outcome == "completed"
    assert aws.call_record(call_id) == before and aws.notifications() == []
    assert set(semaphore(aws).holders()) == {"c-somebody-else"}


def test_event_of_an_execution_older_than_the_latest_redrive_is_stale(aws):
    call_id = "c-3333444455556666dddd"
    state = started_call(aws, call_id, execution=f"{call_id}-r1")
    assert semaphore(aws).acquire(call_id, 2)  # held by the re-drive's execution
    [result] = handle(aws, status_change(aws, call_id, "ABORTED", state))  # the original execution, stopped
    assert result.outcome == "stale" and "-r1" in result.reason
    assert aws.call_record(call_id)["status"] == "QUEUED" and call_id in semaphore(aws).holders()
    assert aws.notifications() == []


def test_aborted_redrive_without_input_is_found_by_its_execution_name(aws):
    call_id = "c-7777888899990000eeee"
    started_call(aws, call_id, execution=f"{call_id}-r2")
    event = status_change(aws, f"{call_id}-r2", "ABORTED", None, seconds=90)  # input not included
    [result] = handle(aws, event)
    assert result.outcome == "failed" and result.call_id == call_id
    record = aws.call_record(call_id)
    assert record["failure_error"] == "ExecutionAborted" and record["failure_reason"] == "workflow ABORTED after 90 s"
    [note] = aws.notifications()
    assert note["message"]["recording"]["key"] == "recordings/a.wav"  # from the call record


# ---- the batch -------------------------------------------------------------------------------------
def test_unrecognised_messages_are_reported_back_and_the_rest_of_the_batch_is_handled(aws, lambda_context):
    call_id = "c-bbbbccccddddeeeeffff"
    state = started_call(aws, call_id)
    good = status_change(aws, call_id, "TIMED_OUT", state)
    response = consume(sqs_event({"hello": "world"}, good, "not json"), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]}
    assert aws.call_record(call_id)["status"] == "FAILED" and len(aws.notifications()) == 1


# ---- re-drive of a call start_call never started ---------------------------------------------------------
def test_start_call_crash_then_dead_letter_then_redrive_starts_the_call(aws, lambda_context, monkeypatch):
    from call_analytics import wiring
    from call_analytics.handlers.start_call import handler as start_call
    from call_analytics.logic.redrive import RedriveDeps, redrive_call
    from call_analytics.settings import clear_settings_cache

    key = "recordings/profile=ignored/sales-call.wav"
    s3_event = upload(aws, key, wav_bytes(channels=2), metadata={"profile": "sales"})
    # start_call cannot start executions (as if Step Functions refused for hours): the invocation fails
    monkeypatch.setenv("STATE_MACHINE_ARN", aws.machine_arn.replace("call-pipeline", "missing"))
    clear_settings_cache()
    wiring.reset()
    with pytest.raises(Exception, match="StartExecution"):
        start_call(s3_event, lambda_context)
    call_id = call_id_for(aws.bucket, key, None, s3_event["Records"][0]["s3"]["object"]["eTag"])
    assert aws.call_record(call_id)["status"] == "RECEIVED" and aws.executions() == []

    # Lambda's on-failure destination hands the event to dead_letters
    monkeypatch.setenv("STATE_MACHINE_ARN", aws.machine_arn)
    clear_settings_cache()
    wiring.reset()
    assert consume(sqs_event(on_failure_record(s3_event, error_type="PermanentError")), lambda_context) == {
        "batchItemFailures": []}
    record = aws.call_record(call_id)
    assert record["status"] == "FAILED" and "execution_arn" not in record and "profile" not in record
    assert len(aws.notifications()) == 1

    # callctl redrive: the recording is HEADed and the profile chosen as start_call would (metadata wins)
    redrive = RedriveDeps.from_clients(dynamodb=aws.ddb, s3=aws.s3, stepfunctions=aws.sfn,
                                       calls_table=aws.calls_table, bucket=aws.bucket,
                                       state_machine_arn=aws.machine_arn)
    result = redrive_call(call_id, redrive)
    assert result.outcome == "started" and result.resubmit is True and result.execution_name == f"{call_id}-r1"
    [execution] = aws.executions()
    state = json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert state == {"call_id": call_id, "profile": "sales",
                     "recording": {"bucket": aws.bucket, "key": key, "version_id": None,
                                   "size": len(wav_bytes(channels=2))}}
    record = aws.call_record(call_id)
    assert record["status"] == "QUEUED" and record["profile"] == "sales" and record["failure_reason"] is None
    assert record["execution_arn"] == execution["executionArn"]
    # a late copy of the dead letter no longer touches the re-driven call
    [late] = handle(aws, on_failure_record(s3_event))
    assert late.outcome == "running" and aws.call_record(call_id)["status"] == "QUEUED"


def test_redrive_of_a_never_started_call_whose_recording_is_gone_is_skipped(aws):
    from call_analytics.logic.redrive import RedriveDeps, redrive_call

    s3_event = upload(aws, "recordings/gone.wav", wav_bytes())
    [failed] = handle(aws, on_failure_record(s3_event))
    aws.s3.delete_object(Bucket=aws.bucket, Key="recordings/gone.wav")
    redrive = RedriveDeps.from_clients(dynamodb=aws.ddb, s3=aws.s3, stepfunctions=aws.sfn,
                                       calls_table=aws.calls_table, bucket=aws.bucket,
                                       state_machine_arn=aws.machine_arn)
    result = redrive_call(failed.call_id, redrive)
    assert result.outcome == "skipped" and "no longer exists" in result.reason
    assert aws.executions() == []


def test_fail_call_spares_a_call_that_completed_in_the_meantime(aws):
    # the consumer checks the status first; a call completing between that read and the write is still spared
    from call_analytics import wiring
    from call_analytics.logic.record_failure import fail_call

    call_id = "c-0000111122223333ffff"
    started_call(aws, call_id)
    calls(aws).set_status(call_id, "COMPLETED", fields={"completion_notified": True})
    before = aws.call_record(call_id)
    result = fail_call(call_id, error_type="States.Timeout", reason="workflow TIMED_OUT after 5 s", profile="default",
                       recording=None, calls=calls(aws), notifier=wiring.notifier(aws.topic_arn),
                       semaphore=semaphore(aws), spare_completed=True)
    assert result is None and aws.call_record(call_id) == before and aws.notifications() == []
