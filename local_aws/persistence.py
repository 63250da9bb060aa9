"""The local stack's data outlives a restart: a snapshot of the stack's tables, buckets and queues, taken when the
stack stops and restored into the freshly deployed stack when it starts again.

moto keeps everything in memory, and a new deploy gives every resource a new physical name (random suffixes), so
the snapshot is keyed by logical id and restored through a name map: every string that held an old physical name
(a bucket, a table, a topic ARN, a state machine name …) or an old S3 version id gets the new one. Bucket
notifications are suspended while objects are put back, so restoring a recording starts nothing.

Executions cannot be carried over (moto's Step Functions state lives in threads). A call that was in flight when
the stack stopped is ended the way AWS ends an execution that is stopped: a "Step Functions Execution Status
Change" event with status ABORTED goes to the workflow's dead-letter queue, whose consumer (dead_letters) records
the call FAILED with that reason, gives its transcription slot back and announces it; `callctl redrive` re-runs it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.names import Output

SNAPSHOT_DIR_NAME = "state-snapshot"
MANIFEST = "manifest.json"
#: call statuses whose execution was running when the stack stopped (functions/call_analytics/models.CallStatus)
IN_FLIGHT_STATUSES = ("RECEIVED", "QUEUED", "TRANSCRIBING", "ANALYZING")
#: the calls table, and the queue the workflow's "execution ended" rule feeds, by their stack outputs
CALLS_TABLE_OUTPUT, WORKFLOW_DLQ_OUTPUT = Output.CALLS_TABLE, Output.WORKFLOW_DLQ
RESTART_CAUSE = "the local stack was stopped while the call was in progress"


@dataclass
class SnapshotSummary:
    items: int = 0
    objects: int = 0
    messages: int = 0
    interrupted_calls: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.items} items, {self.objects} objects, {self.messages} queued messages"
        if self.interrupted_calls:
            text += f"; {len(self.interrupted_calls)} interrupted calls ended FAILED"
        return text


def stack_resources(client: Any, stack_name: str) -> dict[str, tuple[str, str]]:
    """logical id -> (type, physical id) of the stack's resources."""
    cfn = client("cloudformation")
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    # moto omits the keys of a few resource types it does not model fully: those hold no data to keep
    return {r["LogicalResourceId"]: (r.get("ResourceType", ""), r.get("PhysicalResourceId", "")) for r in resources
            if "LogicalResourceId" in r}


def _names_of(physical_id: str) -> list[str]:
    """The strings a physical id shows up as: itself, and the name at the end of an ARN or queue URL."""
    names = [physical_id]
    for sep in (":", "/"):
        tail = physical_id.rsplit(sep, 1)[-1]
        if tail and tail != physical_id and len(tail) > 8:
            names.append(tail)
    return names


def _replace_all(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in mapping.items():
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace_all(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace_all(v, mapping) for k, v in value.items()}
    return value


# ---- save ---------------------------------------------------------------------------------------------------
def save(client: Any, stack_name: str, work_dir: Path) -> SnapshotSummary:
    """Write the snapshot under work_dir (replacing an older one) and return what it holds."""
    target = Path(work_dir) / SNAPSHOT_DIR_NAME
    tmp = target.with_name(f".{SNAPSHOT_DIR_NAME}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    resources = stack_resources(client, stack_name)
    summary = SnapshotSummary()
    manifest: dict[str, Any] = {"saved_at": time.time(), "stack_name": stack_name, "resources": resources,
                                "tables": {}, "buckets": {}, "queues": {}}
    for logical, (kind, physical) in sorted(resources.items()):
        if kind == "AWS::DynamoDB::Table":
            items = _scan(client("dynamodb"), physical)
            (tmp / f"table-{logical}.json").write_text(json.dumps(items))
            manifest["tables"][logical] = len(items)
            summary.items += len(items)
        elif kind == "AWS::S3::Bucket":
            objects = _save_bucket(client("s3"), physical, tmp / f"bucket-{logical}")
            manifest["buckets"][logical] = objects
            summary.objects += len(objects)
        elif kind == "AWS::SQS::Queue":
            messages = _drain(client("sqs"), physical)
            manifest["queues"][logical] = messages
            summary.messages += len(messages)
    (tmp / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return summary


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _save_bucket(s3: Any, bucket: str, folder: Path) -> list[dict[str, Any]]:
    folder.mkdir()
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=entry["Key"])
            file_name = f"{len(objects):06d}.bin"
            (folder / file_name).write_bytes(got["Body"].read())
            objects.append({"key": entry["Key"], "file": file_name, "metadata": got.get("Metadata", {}),
                            "content_type": got.get("ContentType"), "version_id": got.get("VersionId")})
    return objects


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message of the queue (the stack is stopping: nothing else reads it any more)."""
    messages: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(1000):  # bounded: 10 per receive
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   VisibilityTimeout=600, MessageAttributeNames=["All"])
        batch = [m for m in page.get("Messages", []) if m["MessageId"] not in seen]
        if not batch:
            return messages
        for message in batch:
            seen.add(message["MessageId"])
            messages.append({"body": message["Body"], "attributes": message.get("MessageAttributes", {})})
    return messages


# ---- restore ------------------------------------------------------------------------------------------------
def discard(work_dir: Path) -> None:
    for name in (SNAPSHOT_DIR_NAME, f"{SNAPSHOT_DIR_NAME}.restored"):
        shutil.rmtree(Path(work_dir) / name, ignore_errors=True)


def has_snapshot(work_dir: Path) -> bool:
    return (Path(work_dir) / SNAPSHOT_DIR_NAME / MANIFEST).exists()


def restore(client: Any, stack_name: str, outputs: dict[str, str], work_dir: Path) -> SnapshotSummary:
    """Put the snapshot into the (new) stack, end the calls that were in flight; the snapshot is kept as
    `state-snapshot.restored` until the next save."""
    source = Path(work_dir) / SNAPSHOT_DIR_NAME
    manifest = json.loads((source / MANIFEST).read_text())
    old = {logical: tuple(value) for logical, value in manifest["resources"].items()}
    new = stack_resources(client, stack_name)
    mapping: dict[str, str] = {}
    for logical, (_, old_physical) in old.items():
        if logical in new and new[logical][1] and old_physical and new[logical][1] != old_physical:
            for before, after in zip(_names_of(old_physical), _names_of(new[logical][1]), strict=False):
                mapping[before] = after
    summary = SnapshotSummary()
    calls: list[dict[str, Any]] = []
    for logical, objects in manifest["buckets"].items():
        if logical in new:
            summary.objects += _restore_bucket(client("s3"), new[logical][1], source / f"bucket-{logical}", objects,
                                               mapping)
    for logical in manifest["tables"]:
        if logical in new:
            items = _replace_all(json.loads((source / f"table-{logical}.json").read_text()), mapping)
            _put_items(client("dynamodb"), new[logical][1], items)
            summary.items += len(items)
            if new[logical][1] == outputs.get(CALLS_TABLE_OUTPUT):
                calls = items
    for logical, messages in manifest["queues"].items():
        if logical in new:
            for message in messages:
                kwargs: dict[str, Any] = {"QueueUrl": new[logical][1], "MessageBody":
                                          _replace_all(message["body"], mapping)}
                if message["attributes"]:
                    kwargs["MessageAttributes"] = message["attributes"]
                client("sqs").send_message(**kwargs)
                summary.messages += 1
    if outputs.get(WORKFLOW_DLQ_OUTPUT):
        summary.interrupted_calls = _end_interrupted_calls(client("sqs"), outputs[WORKFLOW_DLQ_OUTPUT], calls,
                                                           manifest["saved_at"])
    done = source.with_name(f"{SNAPSHOT_DIR_NAME}.restored")
    shutil.rmtree(done, ignore_errors=True)
    source.rename(done)
    return summary


def _restore_bucket(s3: Any, bucket: str, folder: Path, objects: list[dict[str, Any]],
                    mapping: dict[str, str]) -> int:
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        for obj in objects:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Key": obj["key"], "Body": (folder / obj["file"]).read_bytes(),
                                      "Metadata": _replace_all(obj["metadata"], mapping)}
            if obj.get("content_type"):
                kwargs["ContentType"] = obj["content_type"]
            put = s3.put_object(**kwargs)
            if obj.get("version_id") and put.get("VersionId"):
                mapping[obj["version_id"]] = put["VersionId"]  # records name the recording's version
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)
    return len(objects)


def _put_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests: Any = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        for _ in range(10):  # bounded: unprocessed items are retried a few times
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if not requests:
                break
        else:
            raise RuntimeError(f"restoring {table}: items still unprocessed after 10 attempts")


def _end_interrupted_calls(sqs: Any, queue: str, calls: list[dict[str, Any]], saved_at: float) -> list[str]:
    """An ABORTED status-change event per restored call whose execution the stop ended (as EventBridge sends it)."""
    interrupted = []
    for item in calls:
        if item.get("sk", {}).get("S") != "META" or item.get("status", {}).get("S") not in IN_FLIGHT_STATUSES:
            continue
        call_id = item["pk"]["S"].removeprefix("CALL#")
        execution_arn = item.get("execution_arn", {}).get("S") or ""
        stop_ms = int(saved_at * 1000)
        event = {
            "version": "0", "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "account": execution_arn.split(":")[4] if execution_arn.count(":") >= 5 else "",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved_at)),
            "detail": {
                "executionArn": execution_arn, "name": execution_arn.rsplit(":", 1)[-1] or call_id,
                "stateMachineArn": execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
                "status": "ABORTED", "startDate": None, "stopDate": stop_ms,
                "input": json.dumps({"call_id": call_id}), "output": None,
                "error": "LocalStackRestarted", "cause": RESTART_CAUSE,
            },
        }
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        interrupted.append(call_id)
    return interrupted
