"""The calls table (single table): call record `CALL#<id>/META` with status history, `ANALYSIS#<name>` items.

Layout in docs/data-model.md. Status changes append to `history` with list_append in the same
conditional update, so history and status never disagree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from call_analytics.adapters.aws_errors import error_code as _code
from call_analytics.adapters.aws_errors import translate
from call_analytics.adapters.dynamo_codec import from_item, to_dynamo, to_item

META = "META"
ANALYSIS_PREFIX = "ANALYSIS#"
LIVE_PREFIX = "LIVE#"
STATUS_INDEX = "by_status"


def call_pk(call_id: str) -> str:
    return f"CALL#{call_id}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class CallsTable:
    def __init__(self, table_name: str, client: Any, *, clock=utc_now_iso):
        self.table_name = table_name
        self.client = client
        self._now = clock

    # ---- call record -------------------------------------------------------------------------
    def create_call(self, call_id: str, *, status: str, detail: str | None = None, **fields: Any) -> bool:
        """Write a new call record; False (and no change) when it already exists."""
        now = self._now()
        item = {
            "pk": call_pk(call_id),
            "sk": META,
            "call_id": call_id,
            "status": status,
            "created_at": now,
            "updated_at": now,
            "history": [_entry(status, now, detail)],
            **{k: v for k, v in fields.items() if v is not None},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _translate(exc, "create call record") from None
        return True

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=_key(call_id, META), ConsistentRead=True
            )
        except ClientError as exc:
            raise _translate(exc, "read call record") from None
        item = response.get("Item")
        return from_item(item) if item else None

    def set_status(
        self,
        call_id: str,
        status: str,
        *,
        detail: str | None = None,
        fields: dict[str, Any] | None = None,
        only_if_not: frozenset[str] | set[str] = frozenset(),
        must_exist: bool = True,
    ) -> bool:
        """Set status (+ other fields) and append a history entry. False when the condition did not hold:
        the record is missing (with must_exist) or its status is one of `only_if_not`."""
        now = self._now()
        values: dict[str, Any] = {
            ":status": status,
            ":now": now,
            ":entry": [_entry(status, now, detail)],
            ":empty": [],
        }
        names = {"#status": "status", "#history": "history", "#updated_at": "updated_at", "#call_id": "call_id"}
        sets = [
            "#status = :status",
            "#updated_at = :now",
            "#history = list_append(if_not_exists(#history, :empty), :entry)",
            "#call_id = :call_id",
            "created_at = if_not_exists(created_at, :now)",
        ]
        values[":call_id"] = call_id
        for index, (name, value) in enumerate((fields or {}).items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        conditions = []
        if must_exist:
            conditions.append("attribute_exists(pk)")
        for index, blocked in enumerate(sorted(only_if_not)):
            values[f":not{index}"] = blocked
            conditions.append(f"#status <> :not{index}")
        return self._update(call_id, META, "SET " + ", ".join(sets), names, values, conditions, "update call status")

    def update_fields(self, call_id: str, fields: dict[str, Any], *, only_if_status: str | None = None) -> bool:
        """Set fields without touching status/history."""
        if not fields:
            return True
        names = {"#updated_at": "updated_at"}
        values: dict[str, Any] = {":now": self._now()}
        sets = ["#updated_at = :now"]
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        conditions = ["attribute_exists(pk)"]
        if only_if_status is not None:
            names["#status"] = "status"
            values[":expected"] = only_if_status
            conditions.append("#status = :expected")
        return self._update(call_id, META, "SET " + ", ".join(sets), names, values, conditions, "update call record")

    def increment(self, call_id: str, name: str) -> int:
        """Atomically add 1 to a numeric attribute of the call record; returns the new value."""
        try:
            response = self.client.update_item(
                TableName=self.table_name, Key=_key(call_id, META),
                UpdateExpression="ADD #n :one SET #updated_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#n": name, "#updated_at": "updated_at"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"S": self._now()}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            raise _translate(exc, f"increment {name}") from None
        return int(response["Attributes"][name]["N"])

    # ---- analysis items ----------------------------------------------------------------------
    def put_analysis(self, call_id: str, name: str, item: dict[str, Any]) -> None:
        record = {
            "pk": call_pk(call_id),
            "sk": ANALYSIS_PREFIX + name,
            "call_id": call_id,
            "analysis": name,
            "updated_at": self._now(),
            **item,
        }
        try:
            self.client.put_item(TableName=self.table_name, Item=to_item(record))
        except ClientError as exc:
            raise _translate(exc, f"store analysis {name}") from None

    def list_analyses(self, call_id: str) -> list[dict[str, Any]]:
        return self._query_prefix(call_id, ANALYSIS_PREFIX, "list analyses")

    # ---- live insights (the edge client's LLM responses, logic/live_insights.py) --------------------------
    def put_live_insight(self, call_id: str, sort_key: str, item: dict[str, Any]) -> bool:
        """Store once: False (and no change) when this sort key (one session's turn) is already stored."""
        record = {"pk": call_pk(call_id), "sk": LIVE_PREFIX + sort_key, "call_id": call_id,
                  "updated_at": self._now(), **item}
        try:
            self.client.put_item(TableName=self.table_name, Item=to_item(record),
                                 ConditionExpression="attribute_not_exists(sk)")
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _translate(exc, "store live insight") from None
        return True

    def list_live_insights(self, call_id: str) -> list[dict[str, Any]]:
        """In sort-key order: session number, then turn order."""
        return self._query_prefix(call_id, LIVE_PREFIX, "list live insights")

    def _query_prefix(self, call_id: str, prefix: str, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": call_pk(call_id)}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            try:
                response = self.client.query(**kwargs)
            except ClientError as exc:
                raise _translate(exc, what) from None
            items.extend(from_item(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_analyses(self, call_id: str) -> int:
        """Remove every ANALYSIS# item of a call (a re-drive re-runs them with the current profile)."""
        items = self.list_analyses(call_id)
        for item in items:
            try:
                self.client.delete_item(
                    TableName=self.table_name, Key=_key(call_id, ANALYSIS_PREFIX + item["analysis"])
                )
            except ClientError as exc:
                raise _translate(exc, "delete analysis") from None
        return len(items)

    def recent_by_status(self, status: str, *, limit: int = 25) -> list[dict[str, Any]]:
        """Newest first, from the `by_status` GSI (status hash, updated_at range)."""
        try:
            response = self.client.query(
                TableName=self.table_name,
                IndexName=STATUS_INDEX,
                KeyConditionExpression="#status = :status",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":status": {"S": status}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except ClientError as exc:
            raise _translate(exc, "query calls by status") from None
        return [from_item(i) for i in response.get("Items", [])]

    # ---- plumbing ----------------------------------------------------------------------------
    def _update(self, call_id, sk, expression, names, values, conditions, what) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(call_id, sk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {k: to_dynamo(v) for k, v in values.items()},
        }
        if conditions:
            kwargs["ConditionExpression"] = " AND ".join(conditions)
        try:
            self.client.update_item(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _translate(exc, what) from None
        return True


def _key(call_id: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": call_pk(call_id)}, "sk": {"S": sk}}


def _entry(status: str, at: str, detail: str | None) -> dict[str, Any]:
    entry = {"status": status, "at": at}
    if detail:
        entry["detail"] = detail[:1000]
    return entry


def _translate(exc: ClientError, what: str) -> Exception:
    return translate(exc, f"DynamoDB {what}")
