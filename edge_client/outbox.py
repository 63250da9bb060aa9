"""Durable on-disk outbox (sqlite, WAL) and the publisher thread that drains it to SNS in order.

* `enqueue()` is `INSERT OR IGNORE` on `dedup_key` (= call_id:session_id:turn_order): duplicates are
  harmless. It commits before returning, so a crash right after loses nothing.
* The publisher takes the oldest live rows in order, stops at the first row still backing off
  (head of line: order is kept), and deletes a row only after SNS accepted it. Delivery is
  at-least-once: a crash between publish and delete re-sends that one message; consumers
  de-duplicate on the `dedup_key` attribute (and SNS FIFO topics do it for us).
* Retryable errors back off with full jitter (capped); non-retryable ones park the row (`dead=1`).
* If the outbox cannot be written (disk full, I/O error, locked too long), `enqueue()` keeps the row
  in a bounded in-memory spill list, logs it, and writes it to sqlite before any later row (order is
  kept) on the next `enqueue()` or `flush_spill()` (the publisher thread calls it about every second).
  Only if the spill list overflows is a response lost: the oldest is dropped and logged with its body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .backoff import full_jitter

log = logging.getLogger(__name__)

SPILL_MAX = 1000  # LLM responses kept in memory while the outbox cannot be written (~1-3 MB)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key    TEXT NOT NULL UNIQUE,
    topic_arn    TEXT NOT NULL,
    body         TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    group_id     TEXT,
    created      REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    dead         INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_live ON outbox (dead, id);
"""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    dedup_key: str
    topic_arn: str
    body: str
    attributes: dict[str, str]
    group_id: str | None
    created: float
    attempts: int
    next_attempt: float


# (dedup_key, topic_arn, body json, attributes json, group_id, created)
SpilledRow = tuple[str, str, str, str, str | None, float]


class Outbox:
    def __init__(self, path: Path, spill_max: int = SPILL_MAX):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._wake = threading.Condition()
        self.spill_max = max(1, spill_max)
        self._spill: deque[SpilledRow] = deque()
        self._spill_lock = threading.Lock()  # also orders enqueue() against flush_spill()
        self.spill_dropped = 0  # responses lost because the spill list overflowed (each logged with its body)
        conn = self._conn()
        conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # survives an application crash (not power loss)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def enqueue(self, dedup_key: str, topic_arn: str, body: dict, attributes: dict[str, str],
                group_id: str | None = None) -> bool:
        """Returns True if the row is new (committed, or spilled to memory when sqlite fails), False if
        that dedup_key was already queued. Never raises for a storage error."""
        row: SpilledRow = (dedup_key, topic_arn, json.dumps(body, ensure_ascii=False), json.dumps(attributes),
                           group_id, time.time())
        with self._spill_lock:
            if self._spill:
                self._flush_spill_locked()
            if any(r[0] == dedup_key for r in self._spill):
                return False
            if self._spill:  # earlier rows are still waiting: queue behind them (order is kept)
                self._spill_row(row, None)
                new = True
            else:
                try:
                    new = self._insert(row)
                except (sqlite3.Error, OSError) as exc:
                    self._spill_row(row, exc)
                    new = True
        with self._wake:
            self._wake.notify_all()
        return new

    def _insert(self, row: SpilledRow) -> bool:
        cur = self._conn().execute(
            "INSERT OR IGNORE INTO outbox (dedup_key, topic_arn, body, attributes, group_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?)", row)
        return cur.rowcount == 1

    def _spill_row(self, row: SpilledRow, exc: Exception | None) -> None:
        if len(self._spill) >= self.spill_max:
            lost = self._spill.popleft()
            self.spill_dropped += 1
            log.error("outbox spill list full (%d): LLM response %s is LOST (not published): %s",
                      self.spill_max, lost[0], lost[2])
        self._spill.append(row)
        if exc is not None:
            log.error("cannot write LLM response %s to the outbox %s (%s: %s); kept in memory (%d waiting) "
                      "and retried", row[0], self.path, type(exc).__name__, exc, len(self._spill))
        else:
            log.warning("LLM response %s kept in memory behind %d earlier ones the outbox could not take yet",
                        row[0], len(self._spill) - 1)

    def _flush_spill_locked(self) -> int:
        written = 0
        while self._spill:
            try:
                self._insert(self._spill[0])
            except (sqlite3.Error, OSError) as exc:
                log.debug("outbox still not writable (%s: %s); %d responses wait in memory",
                          type(exc).__name__, exc, len(self._spill))
                break
            self._spill.popleft()
            written += 1
        if written:
            log.warning("outbox writable again: %d spilled LLM responses stored (%d still in memory)",
                        written, len(self._spill))
        return written

    def flush_spill(self) -> int:
        """Writes spilled rows to sqlite, oldest first, until one fails. Returns how many were written."""
        with self._spill_lock:
            if not self._spill:
                return 0
            written = self._flush_spill_locked()
        if written:
            with self._wake:
                self._wake.notify_all()
        return written

    @property
    def spilled(self) -> int:
        """LLM responses waiting in memory because the outbox could not be written."""
        with self._spill_lock:
            return len(self._spill)

    def spilled_rows(self) -> list[SpilledRow]:
        with self._spill_lock:
            return list(self._spill)

    def wait(self, timeout: float) -> None:
        with self._wake:
            self._wake.wait(timeout)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def head(self, limit: int = 10) -> list[OutboxRow]:
        rows = self._conn().execute(
            "SELECT id, dedup_key, topic_arn, body, attributes, group_id, created, attempts, next_attempt "
            "FROM outbox WHERE dead = 0 ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8]) for r in rows]

    def delete(self, row_id: int) -> None:
        self._conn().execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def retry_later(self, row_id: int, attempts: int, next_attempt: float, error: str) -> None:
        self._conn().execute("UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                             (attempts, next_attempt, error[:1000], row_id))

    def park(self, row_id: int, error: str) -> None:
        self._conn().execute("UPDATE outbox SET dead = 1, last_error = ? WHERE id = ?", (error[:1000], row_id))

    def counts(self) -> dict[str, int]:
        """`pending` counts the live rows plus the responses spilled to memory."""
        live, dead = self._conn().execute(
            "SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead = 1), 0) FROM outbox").fetchone()
        return {"pending": int(live) + self.spilled, "dead": int(dead)}

    def dead_rows(self) -> list[tuple[str, str]]:
        return self._conn().execute("SELECT dedup_key, last_error FROM outbox WHERE dead = 1 ORDER BY id").fetchall()


# ---------------------------------------------------------------------------------------------- SNS

RETRYABLE_ERROR_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "TooManyRequestsException",
    "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
    "KMSThrottling", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
}


def is_retryable(exc: Exception) -> bool:
    """Network trouble, throttling and 5xx are retryable; any other client error will never succeed."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return err.get("Code") in RETRYABLE_ERROR_CODES or status >= 500 or status == 429
    if isinstance(exc, ParamValidationError):
        return False
    if isinstance(exc, (NoCredentialsError, NoRegionError)):
        return True  # a configuration problem for every message: keep them until it is fixed
    return isinstance(exc, (BotoCoreError, OSError))


def sns_client(region: str | None = None):
    """boto3 SNS client that fails fast: the outbox, not botocore, rides out long outages."""
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})
    return boto3.client("sns", region_name=region, config=cfg)


def publish_args(row: OutboxRow) -> dict:
    attrs = {k: {"DataType": "String", "StringValue": str(v)} for k, v in row.attributes.items() if v not in (None, "")}
    attrs["dedup_key"] = {"DataType": "String", "StringValue": row.dedup_key}
    args = {"TopicArn": row.topic_arn, "Message": row.body, "MessageAttributes": attrs}
    if row.topic_arn.endswith(".fifo"):
        dedup = row.dedup_key if len(row.dedup_key) <= 128 else hashlib.sha256(row.dedup_key.encode()).hexdigest()
        args["MessageDeduplicationId"] = dedup
        args["MessageGroupId"] = row.group_id or "edge"
    return args


@dataclass
class PublisherStats:
    published: int = 0
    failures: int = 0
    parked: int = 0
    last_error: str | None = None


class SnsPublisher:
    """One thread that drains the outbox to SNS in order. `on_published(row, published_at)` is a hook
    for metrics (latency from final turn to publish)."""

    def __init__(self, outbox: Outbox, client_factory: Callable[[], object], *, backoff_base: float = 0.5,
                 backoff_cap: float = 60.0, on_published: Callable[[OutboxRow, float], None] | None = None):
        self.outbox = outbox
        self._client_factory = client_factory
        self._client = None
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.on_published = on_published
        self.stats = PublisherStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sns-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.outbox.wake()
        if self._thread:
            self._thread.join(timeout)
        self.outbox.close()

    def drain(self, timeout: float) -> bool:
        """Block until the outbox has no live rows or `timeout` passes. True if drained."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.counts()["pending"] == 0:
                return True
            self.outbox.wake()
            time.sleep(0.05)
        return self.outbox.counts()["pending"] == 0

    def _client_or_none(self):
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def publish_ready(self) -> float | None:
        """Publish every row that is due, in order. Returns seconds until the head row is due
        (None if the outbox is empty)."""
        while not self._stop.is_set():
            rows = self.outbox.head(10)
            if not rows:
                return None
            for row in rows:
                wait = row.next_attempt - time.time()
                if wait > 0:
                    return wait  # head of line backs off: later rows wait, so order is kept
                try:
                    self._client_or_none().publish(**publish_args(row))
                except Exception as exc:  # noqa: BLE001 - classified below, never kills the thread
                    delay = self._failed(row, exc)
                    if delay is not None:
                        return delay
                    continue  # parked: the next row may go
                self.outbox.delete(row.id)
                self.stats.published += 1
                if self.on_published:
                    try:
                        self.on_published(row, time.time())
                    except Exception:
                        log.exception("on_published hook failed")
        return None

    def _failed(self, row: OutboxRow, exc: Exception) -> float | None:
        """Schedules a retry (returns its delay) or parks the row (returns None)."""
        msg = f"{type(exc).__name__}: {exc}"
        self.stats.failures += 1
        self.stats.last_error = msg
        if is_retryable(exc):
            delay = full_jitter(row.attempts, self.backoff_base, self.backoff_cap)
            self.outbox.retry_later(row.id, row.attempts + 1, time.time() + delay, msg)
            log.warning("SNS publish of %s failed (attempt %d, retrying in %.1fs; kept in the outbox): %s",
                        row.dedup_key, row.attempts + 1, delay, msg)
            return delay
        else:
            self.outbox.park(row.id, msg)
            self.stats.parked += 1
            log.error("SNS rejected %s permanently; parked in the outbox (dead=1) for review: %s",
                      row.dedup_key, msg)
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.outbox.flush_spill()
                wait = self.publish_ready()
            except Exception:
                log.exception("outbox publisher error")
                wait = 1.0
            self.outbox.wait(min(wait, 1.0) if wait is not None else 1.0)


def validate_topic(client, topic_arn: str) -> str | None:
    """Checks the topic with GetTopicAttributes at start; returns a problem description or None."""
    try:
        client.get_topic_attributes(TopicArn=topic_arn)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
