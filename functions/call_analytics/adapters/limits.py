"""Shared limits in the limits table (pk/sk, TTL `expires_at`): the transcription semaphore and the LLM
request windows. Every change is one conditional UpdateItem, so concurrent Lambdas never overshoot.

Items (docs/data-model.md):
* `pk = SEM#<name>`, `sk = STATE`: `count` (N) and `holders` (M: call_id -> acquired-at epoch seconds).
  Acquire = `SET holders.<call_id> ADD count 1` if the call holds no slot yet and `count < limit`;
  release = `REMOVE holders.<call_id> ADD count -1` if it holds one. Both are idempotent per call id.
* `pk = RATE#<model>`, `sk = <window start, epoch seconds>`: `count` of requests sent in that fixed 60 s
  window; `ADD count 1` if `count < limit`, `limit` being that model's (the caller passes it per request).
  Items expire through TTL a few minutes after their window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from call_analytics.adapters.aws_errors import CONDITION_FAILED, call_aws, error_code, translate

SEMAPHORE_SK = "STATE"
WINDOW_SECONDS = 60
#: window items live this long after their window ended (TTL deletion is lazy; nothing reads old windows)
WINDOW_TTL_SECONDS = 600


def semaphore_pk(name: str) -> str:
    return f"SEM#{name}"


def rate_pk(model: str) -> str:
    return f"RATE#{model}"


class TranscriptionSemaphore:
    """A counting semaphore whose holders are call ids (acquire/release idempotent per call)."""

    def __init__(self, table_name: str, client: Any, *, name: str = "transcription",
                 clock: Callable[[], float] = time.time):
        self.table_name = table_name
        self.client = client
        self.name = name
        self._clock = clock

    def acquire(self, call_id: str, limit: int, *, stale_after_seconds: int | None = None) -> bool:
        """True when `call_id` holds a slot (now or already). With `stale_after_seconds`, holders older than
        that (executions that ended without releasing) are reaped once when the semaphore is full."""
        if self._try_acquire(call_id, limit):
            return True
        holders = self.holders()
        if call_id in holders:
            return True  # held already (a retried attempt)
        if stale_after_seconds:
            now = self._clock()
            stale = [c for c, at in holders.items() if now - float(at) > stale_after_seconds]
            reaped = sum(1 for c in stale if self.release(c, only_if_acquired_at=holders[c]))
            if reaped:
                return self._try_acquire(call_id, limit)
        return False

    def release(self, call_id: str, *, only_if_acquired_at: Any = None) -> bool:
        """True when a slot of `call_id` was given back; False when it held none (harmless)."""
        values: dict[str, Any] = {":minus": {"N": "-1"}}
        condition = "attribute_exists(#holders.#call)"
        if only_if_acquired_at is not None:
            values[":at"] = {"N": str(only_if_acquired_at)}
            condition += " AND #holders.#call = :at"
        return self._update(
            "REMOVE #holders.#call ADD #count :minus",
            {"#holders": "holders", "#call": call_id, "#count": "count"}, values, condition, "release slot",
        )

    def holders(self) -> dict[str, Any]:
        try:
            item = self.client.get_item(TableName=self.table_name, Key=self._key(), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DynamoDB read semaphore") from None
        if not item:
            return {}
        return {k: v.get("N") for k, v in item.get("holders", {}).get("M", {}).items()}

    def count(self) -> int:
        try:
            item = self.client.get_item(TableName=self.table_name, Key=self._key(), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DynamoDB read semaphore") from None
        return int((item or {}).get("count", {}).get("N", "0"))

    # ---- plumbing ----------------------------------------------------------------------------
    def _try_acquire(self, call_id: str, limit: int) -> bool:
        names = {"#holders": "holders", "#call": call_id, "#count": "count"}
        values = {":now": {"N": str(int(self._clock()))}, ":one": {"N": "1"}, ":limit": {"N": str(limit)}}
        condition = "attribute_not_exists(#holders.#call) AND (attribute_not_exists(#count) OR #count < :limit)"
        try:
            return self._update("SET #holders.#call = :now ADD #count :one", names, values, condition,
                                "acquire slot", raise_validation=True)
        except _MissingDocument:
            self._create()
            return self._update("SET #holders.#call = :now ADD #count :one", names, values, condition,
                                "acquire slot")

    def _create(self) -> None:
        """The semaphore item with an empty holders map (SET on a nested path needs the map to exist)."""
        try:
            self.client.update_item(
                TableName=self.table_name, Key=self._key(),
                UpdateExpression=("SET #holders = if_not_exists(#holders, :empty), "
                                  "#count = if_not_exists(#count, :zero)"),
                ExpressionAttributeNames={"#holders": "holders", "#count": "count"},
                ExpressionAttributeValues={":empty": {"M": {}}, ":zero": {"N": "0"}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DynamoDB create semaphore") from None

    def _update(self, expression: str, names: dict[str, str], values: dict[str, Any], condition: str, what: str,
                *, raise_validation: bool = False) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name, Key=self._key(), UpdateExpression=expression,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ConditionExpression=condition,
            )
        except ClientError as exc:
            code = error_code(exc)
            if code == CONDITION_FAILED:
                return False
            if raise_validation and code == "ValidationException":
                raise _MissingDocument() from None
            raise translate(exc, f"DynamoDB {what}") from None
        except BotoCoreError as exc:
            raise translate(exc, f"DynamoDB {what}") from None
        return True

    def _key(self) -> dict[str, Any]:
        return {"pk": {"S": semaphore_pk(self.name)}, "sk": {"S": SEMAPHORE_SK}}


class _MissingDocument(Exception):
    """The semaphore item (or its holders map) does not exist yet."""


class LlmRateLimiter:
    """Fixed 60 s windows per model, shared by every execution through conditional ADDs. Each call names the
    model and its limit (models can have different ones: LLM_REQUESTS_PER_MINUTE may be a per-model map).

    Chosen over a token bucket because one conditional `ADD` per request is the whole algorithm (no
    read-modify-write, no clock agreement beyond the window number). The price: up to 2x the limit can
    land within 60 s across a window boundary; set a model's limit a little under the plan's limit
    if that matters, and a 429 that still gets through is handled by `mark_full` + the throttle loop.
    """

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], float] = time.time):
        self.table_name = table_name
        self.client = client
        self._clock = clock

    def window(self, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        return int(now // WINDOW_SECONDS) * WINDOW_SECONDS

    def seconds_to_next_window(self, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        return max(1, math.ceil(self.window(now) + WINDOW_SECONDS - now))

    def try_acquire(self, model: str, limit: int) -> bool:
        """Count one request for `model` in the current window; False (nothing counted) when it is full."""
        window = self.window()
        counted, _ = call_aws(lambda: self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": rate_pk(model)}, "sk": {"S": str(window)}},
            UpdateExpression="ADD #count :one SET #expires = :expires",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={"#count": "count", "#expires": "expires_at"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)},
                                       ":expires": {"N": str(window + WINDOW_SECONDS + WINDOW_TTL_SECONDS)}},
        ), "DynamoDB count LLM request", expected={CONDITION_FAILED})
        return counted

    def mark_full(self, model: str, limit: int) -> None:
        """The gateway said 429 although our window had room (another client shares the key): close the
        current window for every execution."""
        window = self.window()
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": rate_pk(model)}, "sk": {"S": str(window)}},
                UpdateExpression="SET #count = :limit, #expires = :expires",
                ExpressionAttributeNames={"#count": "count", "#expires": "expires_at"},
                ExpressionAttributeValues={":limit": {"N": str(limit)},
                                           ":expires": {"N": str(window + WINDOW_SECONDS + WINDOW_TTL_SECONDS)}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DynamoDB close LLM window") from None

    def used(self, model: str) -> int:
        key = {"pk": {"S": rate_pk(model)}, "sk": {"S": str(self.window())}}
        try:
            item = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DynamoDB read LLM window") from None
        return int((item or {}).get("count", {}).get("N", "0"))
