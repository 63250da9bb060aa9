"""Fault `ws_drop`: the server aborts a streaming session's TCP connection after `after_seconds`, with
no Error message and no close frame (what a network failure or a crashed server looks like)."""

from __future__ import annotations

import json
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .helpers import wait_for

CHUNK = 3200  # 100 ms of 16 kHz PCM16 (silence)


def _session(server):
    return connect(f"{server.ws_url}?sample_rate=16000", additional_headers={"Authorization": server.api_key})


def test_ws_drop_ends_the_connection_without_a_close_frame_and_is_counted(server, admin, clean_faults):
    admin.set_faults([{"group": "streaming", "action": "ws_drop", "after_seconds": 0.5, "next_n": 1}])
    before = admin.stats()
    messages: list[dict] = []
    with _session(server) as ws:
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosed) as exc:
            while True:  # real-time audio until the connection goes away
                ws.send(b"\0" * CHUNK)
                try:
                    messages.append(json.loads(ws.recv(timeout=0.1)))
                except TimeoutError:
                    pass
                assert time.monotonic() - t0 < 10, "the connection was not dropped"
        lasted = time.monotonic() - t0
    assert exc.value.rcvd is None, f"a close frame was received: {exc.value.rcvd}"  # no close code at all
    assert [m["type"] for m in messages] == ["Begin"]  # no Error message before the drop
    assert 0.4 <= lasted < 5
    after = admin.stats()
    assert after["faults_injected"]["streaming:ws_drop"] == before["faults_injected"].get("streaming:ws_drop", 0) + 1
    assert after["events"]["ws_drop"] == before["events"].get("ws_drop", 0) + 1
    closes = {k: v for k, v in before["events"].items() if k.startswith("ws_close_")}
    assert {k: v for k, v in after["events"].items() if k.startswith("ws_close_")} == closes  # not a close
    wait_for(lambda: admin.stats()["streaming"]["active_sessions"] == 0, timeout=5)
    rules = requests.get(f"{admin.base_url}/_local/faults", headers=admin.headers, timeout=5).json()["rules"]
    assert [(r["action"], r["fired"], r["exhausted"]) for r in rules] == [("ws_drop", 1, True)]
    with _session(server) as ws:  # the server is fine: the next session is healthy
        assert json.loads(ws.recv(timeout=5))["type"] == "Begin"
        ws.send(json.dumps({"type": "Terminate"}))
        msgs = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                msgs.append(json.loads(ws.recv(timeout=10)))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000 and msgs[-1]["type"] == "Termination"


def test_ws_drop_rules_are_validated(admin, clean_faults):
    for rule, error in (({"group": "llm", "action": "ws_drop"}, "ws_drop rules use group 'streaming'"),
                        ({"group": "streaming", "action": "ws_drop", "after_seconds": -1}, "after_seconds")):
        r = requests.post(f"{admin.base_url}/_local/faults", json={"rules": [rule]}, headers=admin.headers, timeout=5)
        assert r.status_code == 400 and error in r.json()["error"]
