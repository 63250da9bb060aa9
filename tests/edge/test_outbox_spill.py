"""The outbox cannot be written (a real SQLITE_FULL "database or disk is full", made with sqlite's
`max_page_count`): LLM responses wait in a bounded in-memory spill list, are logged, and reach the
outbox (and SNS) in order once it is writable again. No sockets."""

from __future__ import annotations

import json
import logging
import time

from edge_client.client import EdgeClient, SessionState
from edge_client.outbox import Outbox, SnsPublisher

from .helpers import edge_settings
from .test_units import FakeSnsClient

ARN = "arn:aws:sns:us-east-1:1:t"
BIG = "x" * 6000  # > one 4 KiB page: every insert needs a new page


def disk_full(ob: Outbox) -> None:
    """The database may not grow any more (per connection, like a full disk for the writer)."""
    conn = ob._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def disk_ok(ob: Outbox) -> None:
    ob._conn().execute("PRAGMA max_page_count = 1073741823")


def enqueue(ob: Outbox, i: int) -> bool:
    return ob.enqueue(f"c:s:{i}", ARN, {"i": i, "pad": BIG}, {"call_id": "c"}, group_id="c")


def test_a_failed_outbox_write_is_spilled_logged_and_stored_in_order_later(tmp_path, caplog):
    ob = Outbox(tmp_path / "o.db")
    assert enqueue(ob, 0)
    disk_full(ob)
    with caplog.at_level(logging.WARNING, logger="edge_client.outbox"):
        assert enqueue(ob, 1) and enqueue(ob, 2)  # no exception: kept in memory
    assert ob.spilled == 2
    assert "c:s:1" in caplog.text and "database or disk is full" in caplog.text and "kept in memory" in caplog.text
    assert ob.counts() == {"pending": 3, "dead": 0}  # pending includes what waits in memory
    assert not enqueue(ob, 1)  # a duplicate of a spilled response is still a duplicate
    assert ob.flush_spill() == 0 and ob.spilled == 2  # still full: retried, nothing lost
    disk_ok(ob)
    with caplog.at_level(logging.WARNING, logger="edge_client.outbox"):
        assert enqueue(ob, 3)  # the next write stores the spilled ones first
    assert "outbox writable again: 2 spilled" in caplog.text
    assert ob.spilled == 0
    assert [json.loads(r.body)["i"] for r in ob.head()] == [0, 1, 2, 3]
    ob.close()
    assert Outbox(tmp_path / "o.db").counts() == {"pending": 4, "dead": 0}  # durable now


def test_the_spill_list_is_bounded_and_an_overflow_is_logged_with_the_body(tmp_path, caplog):
    ob = Outbox(tmp_path / "o.db", spill_max=3)
    disk_full(ob)
    with caplog.at_level(logging.ERROR, logger="edge_client.outbox"):
        for i in range(5):
            assert enqueue(ob, i)
    assert ob.spilled == 3 and ob.spill_dropped == 2
    assert [r[0] for r in ob.spilled_rows()] == ["c:s:2", "c:s:3", "c:s:4"]  # the oldest went first
    lost = [r.getMessage() for r in caplog.records if "LOST" in r.getMessage()]
    assert len(lost) == 2 and "c:s:0" in lost[0] and '"i": 0' in lost[0]  # the log is the last copy
    disk_ok(ob)
    assert ob.flush_spill() == 3
    assert [json.loads(r.body)["i"] for r in ob.head()] == [2, 3, 4]


def test_the_publisher_thread_retries_the_spill_by_itself(tmp_path):
    ob = Outbox(tmp_path / "o.db")
    fake = FakeSnsClient([])
    pub = SnsPublisher(ob, lambda: fake)
    disk_full(ob)  # the main thread's connection cannot write
    for i in range(3):
        assert enqueue(ob, i)
    assert ob.spilled == 3
    pub.start()  # its own connection: no page limit, like the disk freeing up
    try:
        assert pub.drain(10), "the publisher stored and published the spilled responses"
    finally:
        pub.stop()
    assert [json.loads(a["Message"])["i"] for a in fake.accepted] == [0, 1, 2]
    assert ob.spilled == 0


class _NoAudio:
    def frames(self):
        return iter(())

    def close(self):
        pass


def test_client_llm_response_survives_a_full_outbox(tmp_path):
    s = edge_settings(tmp_path, "ws://127.0.0.1:9/v3/ws", topic_arn=ARN, call_id="call-full")
    ob = Outbox(tmp_path / "o.db")
    client = EdgeClient(s, "key", _NoAudio(), outbox=ob, out=lambda line: None)
    client._session = SessionState(number=1, id="sess-1")  # as if Begin had arrived (no socket here)
    disk_full(ob)
    for order in (0, 1):
        client.dispatcher.dispatch_raw(json.dumps(
            {"type": "LLMGatewayResponse", "turn_order": order, "transcript": f"turn {order} {BIG}",
             "data": {"model": "m", "choices": [{"message": {"content": f"answer {order}"}}]}}))
    assert client.enqueue_errors == 0 and client.dispatcher.handler_errors == 0
    assert client.llm_responses == 2 and ob.spilled == 2
    disk_ok(ob)
    deadline = time.monotonic() + 5
    while ob.spilled and time.monotonic() < deadline:
        ob.flush_spill()
    keys = [r.dedup_key for r in ob.head()]
    assert keys == ["call-full:sess-1:0", "call-full:sess-1:1"]
    assert json.loads(ob.head()[1].body)["llm"]["content"] == "answer 1"
