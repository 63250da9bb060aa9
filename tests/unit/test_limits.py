"""The shared limits against moto: the transcription semaphore and the per-model LLM request windows."""

from __future__ import annotations

import threading

import boto3
import pytest
from call_analytics.adapters.limits import LlmRateLimiter, TranscriptionSemaphore
from unit_fakes import LIMITS_TABLE, create_limits_table


@pytest.fixture
def ddb():
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb")
        create_limits_table(client)
        yield client


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- semaphore ---------------------------------------------------------------------------------------
def test_acquire_and_release_are_idempotent_per_call(ddb):
    sem = TranscriptionSemaphore(LIMITS_TABLE, ddb)
    assert sem.acquire("c-1", 2) is True
    assert sem.acquire("c-1", 2) is True  # a retried attempt: same slot, not a second one
    assert sem.count() == 1 and set(sem.holders()) == {"c-1"}
    assert sem.acquire("c-2", 2) is True
    assert sem.acquire("c-3", 2) is False  # full
    assert sem.count() == 2
    assert sem.release("c-1") is True
    assert sem.release("c-1") is False  # a second release gives nothing back
    assert sem.release("c-never") is False
    assert sem.count() == 1
    assert sem.acquire("c-3", 2) is True and set(sem.holders()) == {"c-2", "c-3"}


def test_release_on_a_fresh_table_is_harmless(ddb):
    sem = TranscriptionSemaphore(LIMITS_TABLE, ddb)
    assert sem.release("c-1") is False and sem.count() == 0


@pytest.fixture
def atomic_moto_writes(monkeypatch):
    """DynamoDB applies each conditional write atomically; moto's in-process backend does not lock, so racing
    threads could both pass a condition. Serialise moto's item writes to get DynamoDB's guarantee back (the
    race under test is between our read-decide-write steps, which stay concurrent)."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("update_item", "put_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def test_concurrent_acquires_never_exceed_the_limit(ddb, atomic_moto_writes):
    # GIVEN 40 executions racing for 5 slots (each thread its own client, like separate Lambdas)
    limit, callers = 5, 40
    barrier = threading.Barrier(callers)
    results: dict[str, bool] = {}

    def contend(call_id: str) -> None:
        sem = TranscriptionSemaphore(LIMITS_TABLE, boto3.client("dynamodb"))
        barrier.wait()
        results[call_id] = sem.acquire(call_id, limit)

    threads = [threading.Thread(target=contend, args=(f"c-{i}",)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly `limit` got a slot, and the item agrees with them
    winners = {c for c, ok in results.items() if ok}
    sem = TranscriptionSemaphore(LIMITS_TABLE, ddb)
    assert len(winners) == limit
    assert set(sem.holders()) == winners and sem.count() == limit


def test_stale_holders_are_reaped_when_full(ddb):
    clock = FakeClock()
    sem = TranscriptionSemaphore(LIMITS_TABLE, ddb, clock=clock)
    assert sem.acquire("c-dead", 1)
    clock.now += 100
    assert sem.acquire("c-new", 1, stale_after_seconds=3600) is False  # the holder is not stale yet
    clock.now += 3600
    assert sem.acquire("c-new", 1, stale_after_seconds=3600) is True  # its execution is presumed dead
    assert set(sem.holders()) == {"c-new"} and sem.count() == 1


# ---- LLM request windows -----------------------------------------------------------------------------
def test_fixed_windows_count_per_model_and_reset_each_minute(ddb):
    clock = FakeClock(1_800_000_010.0)  # 10 s into a window
    limiter = LlmRateLimiter(LIMITS_TABLE, ddb, clock=clock)
    assert [limiter.try_acquire("model-a", 3) for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire("model-b", 3) is True  # per model
    assert limiter.used("model-a") == 3 and limiter.seconds_to_next_window() == 50
    clock.now += 50  # the next window
    assert limiter.try_acquire("model-a", 3) is True and limiter.used("model-a") == 1
    # the window item carries its TTL
    window = limiter.window()
    item = ddb.get_item(TableName=LIMITS_TABLE, Key={"pk": {"S": "RATE#model-a"}, "sk": {"S": str(window)}})["Item"]
    assert int(item["expires_at"]["N"]) > window + 60


def test_mark_full_closes_the_window_for_everyone(ddb):
    limiter = LlmRateLimiter(LIMITS_TABLE, ddb, clock=FakeClock())
    assert limiter.try_acquire("model-a", 30)
    limiter.mark_full("model-a", 30)
    assert limiter.try_acquire("model-a", 30) is False
