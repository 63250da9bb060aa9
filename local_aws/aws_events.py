"""What AWS does on its own and moto 5.2.5 does not: Step Functions status-change events, StopExecution that
aborts at once, the ``account`` of EventBridge events delivered to targets, and the Lambda SQS poller
(redelivery after the visibility timeout, redrive to the DLQ).

Installed by ``LocalAwsServer.start`` (``install``); every patch says what AWS does and what moto lacks. Already
right in moto and left alone: a state machine's ``TimeoutSeconds`` ends the execution ``TIMED_OUT`` (the
interpreter joins its worker thread with that timeout; not scaled by ``--wait-scale``, because the Lambda work
inside the execution runs in real time), and ``ReceiveMessage`` moves a message that was received
``maxReceiveCount`` times to the queue's dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local_aws.moto_patches import SyncInvoke, _once  # one patch registry, and moto's version check

LOG = logging.getLogger("local_aws.events")

EXECUTION_EVENT_SOURCE = "aws.states"
EXECUTION_EVENT_TYPE = "Step Functions Execution Status Change"
#: EventBridge drops the input (then the output) of a status-change event above this size (AWS docs: 248 KB)
EVENT_PAYLOAD_LIMIT = 248 * 1024

_stop_request = threading.local()


# ---- Step Functions -> EventBridge ----------------------------------------------------------------------
def _epoch_ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def execution_status_event(execution: Any, status: str) -> dict[str, Any]:
    """The PutEvents entry AWS emits for a Standard execution's status change (docs: "EventBridge (CloudWatch
    Events) for Step Functions execution status changes"): input/output as JSON strings, dates in epoch ms,
    input left out above 248 KB together with the output, the output left out above 248 KB on its own."""
    input_text = execution.execution_input if isinstance(execution.execution_input, str) else _json_text(
        execution.input_data)
    output_text = _json_text(execution.output) if status == "SUCCEEDED" else None
    if output_text is not None and len(output_text) > EVENT_PAYLOAD_LIMIT:
        output_text = None
        output_included = False
    else:
        output_included = output_text is not None
    if input_text is not None and len(input_text) + len(output_text or "") > EVENT_PAYLOAD_LIMIT:
        input_text = None
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": _epoch_ms(execution.stop_date) if status != "RUNNING" else None,
        "input": input_text,
        "output": output_text,
        "inputDetails": {"included": input_text is not None},
        "outputDetails": {"included": output_included} if status == "SUCCEEDED" else None,
        "error": (execution.error or None) if status != "RUNNING" else None,
        "cause": (execution.cause or None) if status != "RUNNING" else None,
    }
    when = execution.stop_date if status != "RUNNING" and execution.stop_date else execution.start_date
    return {"Source": EXECUTION_EVENT_SOURCE, "DetailType": EXECUTION_EVENT_TYPE, "Detail": json.dumps(detail),
            "Resources": [execution.exec_arn], "Time": when.timestamp() if when else time.time()}


def _emit(execution: Any, status: str) -> None:
    """Put the event on the default bus of the execution's account/region; moto's rules deliver it to their
    targets (SQS among them). A failure is logged, never raised into the execution (AWS: best effort)."""
    try:
        if str(getattr(execution.sm_type, "value", execution.sm_type)) != "STANDARD":
            return  # Express workflows emit no status-change events
        from moto.events.models import events_backends

        entry = execution_status_event(execution, status)
        events_backends[execution.account_id][execution.region_name].put_events([entry])
        LOG.info("EventBridge: %s %s", execution.name, status)
    except Exception:
        LOG.exception("could not emit the %s status-change event of %s", status, execution.exec_arn)


def sfn_execution_events() -> None:
    """AWS emits "Step Functions Execution Status Change" events (RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
    ABORTED) to the default event bus for every Standard execution; moto emits none, so EventBridge rules on
    them (the stack's ExecutionEndedUncaught -> WorkflowDlq) never fire locally. Emit them from the points
    where moto's interpreter starts an execution and reflects its end status (once per execution).

    StopExecution on AWS ends the execution ABORTED at once (with the request's error and cause, and the
    stopDate in the response), even while a task is in flight; moto ignores error/cause, answers without a
    stopDate and keeps the execution RUNNING until the in-flight task returns. Reflect the stop immediately."""
    if not _once("sfn_execution_events"):
        return
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend import execution as execution_mod
    from moto.stepfunctions.responses import StepFunctionResponse

    comm_cls, execution_cls = execution_mod.BaseExecutionWorkerCommunication, execution_mod.Execution
    original_terminated, original_start, original_stop = (comm_cls.terminated, execution_cls.start,
                                                          execution_cls.stop)
    guard = threading.Lock()

    def terminated(self) -> None:
        execution = self.execution
        with guard:
            if getattr(execution, "_local_ended", False):
                return  # already reflected (stopped while a task was still running)
            execution._local_ended = True
        original_terminated(self)
        state = execution.exec_worker.env.program_state()
        if isinstance(state, ProgramStopped):
            execution.error, execution.cause = state.error or None, state.cause or None
        _emit(execution, str(getattr(execution.exec_status, "value", execution.exec_status)))

    def start(self) -> None:
        _emit(self, "RUNNING")  # before the worker starts, so it precedes the end event
        original_start(self)

    def stop(self, stop_date, error, cause) -> None:
        requested = getattr(_stop_request, "value", None)
        if requested is not None:
            error, cause = requested
        worker = self.exec_worker
        deadline = time.monotonic() + 5
        while worker is not None and worker.env is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the worker thread is still building its environment
        if worker is None or worker.env is None:
            return
        original_stop(self, stop_date, error, cause)
        if isinstance(worker.env.program_state(), ProgramStopped):
            worker._execution_communication.terminated()

    def stop_execution(self):
        _stop_request.value = (self._get_param("error"), self._get_param("cause"))
        try:
            return original_stop_execution(self)
        finally:
            _stop_request.value = None

    original_stop_execution = StepFunctionResponse.stop_execution
    comm_cls.terminated = terminated
    execution_cls.start = start
    execution_cls.stop = stop
    StepFunctionResponse.stop_execution = stop_execution


def eventbridge_event_account() -> None:
    """Every EventBridge event AWS delivers to a target carries ``account``; moto's default target template (used
    when a target has no InputTransformer) leaves it out. Put it back."""
    if not _once("eventbridge_event_account"):
        return
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", ', 1)


# ---- SQS -> Lambda event-source mappings ----------------------------------------------------------------
def sqs_lambda_event(queue: Any, messages: list[Any]) -> dict[str, Any]:
    """The event the Lambda SQS poller sends: one record per message with its real attributes."""
    records = []
    for m in messages:
        attributes = {"ApproximateReceiveCount": str(m.approximate_receive_count),
                      "SentTimestamp": str(m.sent_timestamp), "SenderId": m.sender_id,
                      "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp)}
        if queue.fifo_queue:
            attributes.update({"MessageGroupId": m.group_id, "MessageDeduplicationId": m.deduplication_id,
                               "SequenceNumber": m.sequence_number})
        message_attributes = {}
        for name, value in (m.message_attributes or {}).items():
            message_attributes[name] = {"stringValue": value.get("StringValue"),
                                        "binaryValue": value.get("BinaryValue"), "stringListValues": [],
                                        "binaryListValues": [], "dataType": value.get("DataType")}
        records.append({"messageId": m.id, "receiptHandle": m.receipt_handle, "body": m.body,
                        "attributes": attributes, "messageAttributes": message_attributes,
                        "md5OfBody": m.body_md5, "eventSource": "aws:sqs", "eventSourceARN": queue.queue_arn,
                        "awsRegion": queue.region})
    return {"Records": records}


def failed_message_ids(payload: str, errored: bool, report_item_failures: bool, ids: list[str]) -> set[str]:
    """Which messages of a batch stay in the queue (AWS "Reporting batch item failures"): all on a function
    error; with ReportBatchItemFailures the listed ones; an invalid report (not JSON, an itemIdentifier that is
    empty, missing or not in the batch) fails the whole batch; null/empty responses and lists succeed."""
    if errored:
        return set(ids)
    if not report_item_failures:
        return set()
    try:
        response = json.loads(payload) if payload and payload.strip() else None
    except ValueError:
        return set(ids)
    if not isinstance(response, dict):
        return set() if response is None else set(ids)
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(ids)
    listed = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    if not listed <= set(ids):
        return set(ids)
    return listed


def scaled_visibility(visibility_timeout: Any, scale: float) -> int:
    """moto keeps visibility in whole seconds; at least 1 s, or a failed message would come straight back."""
    return max(1, math.ceil(float(visibility_timeout or 30) * scale))


class SqsEventSourcePoller:
    """AWS's Lambda poller for SQS event-source mappings. moto instead invokes the function once, inside
    SendMessage, one message per event (ApproximateReceiveCount always "1", fixed timestamps, no message
    attributes); when it fails the message is made visible again but never polled again, so it stays in the queue
    forever and the redrive policy never applies; partial batch responses are ignored; messages sent before the
    mapping existed are never delivered, and a deleted or disabled mapping keeps delivering.

    Here: moto's in-SendMessage delivery is switched off (mappings are not attached to the queue); a thread polls
    every enabled SQS mapping, receives up to BatchSize visible messages with the queue's visibility timeout
    (x wait scale), invokes the function synchronously with AWS's event shape, deletes what succeeded (honouring
    ReportBatchItemFailures) and leaves the rest to reappear after the visibility timeout. moto's ReceiveMessage
    moves a message received maxReceiveCount times to the dead-letter queue. One batch in flight per mapping."""

    def __init__(self, invoke: SyncInvoke, wait_scale: float = 1.0, workers: int = 4, idle_interval: float = 0.5):
        self._invoke = invoke
        self.wait_scale = wait_scale
        self._idle_interval = idle_interval
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sqs-poller")
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self.counts = {"batches": 0, "messages": 0, "deleted": 0, "returned": 0, "function_errors": 0,
                       "poller_errors": 0}
        self._thread = threading.Thread(target=self._run, name="sqs-event-sources", daemon=True)

    def start(self) -> SqsEventSourcePoller:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self.counts, "in_flight": len(self._busy)}

    def _count(self, **increments: int) -> None:
        with self._lock:
            for key, value in increments.items():
                self.counts[key] += value

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._idle_interval)
            self._wake.clear()
            try:
                self._poll_once()
            except Exception:  # keep polling; a broken mapping must not stop the others
                LOG.exception("SQS event-source poll failed")
                self._count(poller_errors=1)

    def _poll_once(self) -> None:
        from moto.awslambda.models import lambda_backends
        from moto.sqs.models import sqs_backends

        for _account, regions in list(lambda_backends.items()):
            for _region, backend in list(regions.items()):
                for esm in list(backend._event_source_mappings.values()):
                    if self._closed.is_set():
                        return
                    arn = esm.event_source_arn or ""
                    if not arn.startswith("arn:aws:sqs:") or not _enabled(esm.enabled):
                        continue
                    with self._lock:
                        if esm.uuid in self._busy:
                            continue
                    region, account, name = arn.split(":")[3:6]
                    sqs = sqs_backends[account][region]
                    queue = sqs.queues.get(name)
                    if queue is None:
                        continue
                    visibility = scaled_visibility(queue.visibility_timeout, self.wait_scale)
                    messages = sqs.receive_message(name, int(esm.batch_size or 10), 0, visibility, ["All"])
                    if not messages:
                        continue
                    with self._lock:
                        self._busy.add(esm.uuid)
                    self._pool.submit(self._deliver, backend, esm, sqs, queue, messages)

    def _deliver(self, backend: Any, esm: Any, sqs: Any, queue: Any, messages: list[Any]) -> None:
        try:
            fn = backend.get_function(esm.function_arn)
            payload, errored, _ = self._invoke(fn, sqs_lambda_event(queue, messages))
            report = "ReportBatchItemFailures" in (esm.function_response_types or [])
            failed = failed_message_ids(payload, errored, report, [m.id for m in messages])
            for m in messages:
                if m.id not in failed:
                    sqs.delete_message(queue.name, m.receipt_handle)
            self._count(batches=1, messages=len(messages), deleted=len(messages) - len(failed),
                        returned=len(failed), function_errors=int(errored))
            if failed:
                LOG.warning("%s: %d of %d message(s) from %s failed; visible again after %d s", fn.function_name,
                            len(failed), len(messages), queue.name,
                            scaled_visibility(queue.visibility_timeout, self.wait_scale))
        except Exception:
            LOG.exception("delivering a batch of %s to %s failed", queue.name, esm.function_arn)
            self._count(poller_errors=1)
        finally:
            with self._lock:
                self._busy.discard(esm.uuid)
            self.wake()


def _enabled(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() != "false"


def sqs_event_source_polling(invoke: SyncInvoke, wait_scale: float = 1.0) -> SqsEventSourcePoller:
    """Detach SQS mappings from moto's queues (no delivery inside SendMessage) and start the poller."""
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import Queue, sqs_backends

    poller = SqsEventSourcePoller(invoke, wait_scale=wait_scale).start()
    _active_poller[0] = poller
    if not _once("sqs_event_sources"):
        return poller
    original_create = LambdaBackend.create_event_source_mapping
    original_add = Queue.add_message

    def create_event_source_mapping(self, spec):
        esm = original_create(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.lambda_event_source_mappings.get(esm.function_arn) is esm:
                del queue.lambda_event_source_mappings[esm.function_arn]
        if _active_poller[0]:
            _active_poller[0].wake()
        return esm

    def add_message(self, message):
        original_add(self, message)
        if _active_poller[0]:
            _active_poller[0].wake()

    LambdaBackend.create_event_source_mapping = create_event_source_mapping
    Queue.add_message = add_message
    return poller


_active_poller: list[SqsEventSourcePoller | None] = [None]


def install(invoke: SyncInvoke, wait_scale: float = 1.0) -> SqsEventSourcePoller:
    """Apply the patches (once per process) and start the SQS poller; stop it with ``close()``."""
    sfn_execution_events()
    eventbridge_event_account()
    return sqs_event_source_polling(invoke, wait_scale)
