"""Dead network paths (research note §3.5): the path freezes without FIN/RST, or the handshake is
black-holed. The client runs in-process against the real local AssemblyAI server, through
FreezableTcpProxyDouble (a test double) on 127.0.0.1."""

from __future__ import annotations

import logging
import re
import time
import wave

import pytest
from conftest import start_aai_server

from edge_client.client import EXIT_OK, EXIT_STREAMING

from .helpers import edge_settings
from .proxy_double import FreezableTcpProxyDouble
from .test_session import run_call, streaming_config

pytestmark = pytest.mark.slow

PING_INTERVAL, PING_TIMEOUT, SEND_TIMEOUT, CONNECT_TIMEOUT = 1.0, 0.5, 2.0, 1.0
SLACK = 5.0  # scheduling on a loaded 2-core machine; still far below "never" (no ping: not detected in 40 s)


def dead_path_bound() -> float:
    """Longest time from a freeze to the end of the session: the next ping is due within one interval,
    its pong is overdue ping_timeout later and noticed within another select slice (ping_timeout);
    a send into a full socket buffer fails after send_timeout; both paths abort the socket."""
    return 2 * PING_INTERVAL + 2 * PING_TIMEOUT + SEND_TIMEOUT + SLACK


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):
    server = start_aai_server(tmp_path_factory.mktemp("aai-edge-deadpath"), streaming_config())
    yield server
    server.stop()


@pytest.fixture
def proxy(stream_server, request):
    double = FreezableTcpProxyDouble(stream_server.port, frozen=getattr(request, "param", False))
    yield double
    double.close()


def dead_path_settings(tmp_path, proxy, **overrides):
    return edge_settings(tmp_path, proxy.ws_url(), ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
                         send_timeout=SEND_TIMEOUT, connect_timeout=CONNECT_TIMEOUT, **overrides)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)


def assert_recording_is_the_whole_source(summary, wav):
    with wave.open(str(summary.recording), "rb") as w:
        rec = w.readframes(w.getnframes())
    with wave.open(str(wav), "rb") as w:
        src = w.readframes(w.getnframes())
    assert len(rec) == summary.frames_captured * 1600 and rec[: len(src)] == src
    assert len(rec) - len(src) < 1600  # only the padding of the last 50 ms frame


def reconnect_delays(caplog) -> list[float]:
    return [float(m) for m in re.findall(r"reconnecting in ([0-9.]+)s", caplog.text)]


def test_frozen_path_is_detected_and_the_call_continues_on_a_fresh_session(stream_server, proxy, call_wav,
                                                                          tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge_client")
    s = dead_path_settings(tmp_path, proxy)
    marks: dict[str, float] = {}

    def freeze_then_restore(client):
        wait_for(lambda: client.session_ids and client.frames_sent >= 60, 60, "first session streaming")
        marks["frozen"] = time.monotonic()
        proxy.freeze()
        first = client.sessions[0]
        wait_for(lambda: first.closed_at > 0, 60, "the client gives up on the frozen session")
        # keep the path dead until a reconnect attempt has gone into it, then bring it back
        wait_for(lambda: len(proxy.connections) >= 2, 30, "a reconnect attempt during the freeze")
        time.sleep(0.3)
        marks["resumed"] = time.monotonic()
        proxy.resume()

    client, summary = run_call(s, stream_server.api_key, call_wav, publish=False, during=freeze_then_restore)
    assert "resumed" in marks, "the freeze scenario did not run to the end"
    first = client.sessions[0]
    # detected: the first session ended by itself, within the bound derived from the settings
    assert first.id is not None and not first.termination
    assert 0 < first.closed_at - marks["frozen"] <= dead_path_bound(), first.closed_at - marks["frozen"]
    # by the client itself (ping/pong or send timeout), not by a close from the server
    assert first.close_code is None and first.last_exception, (first.close_code, first.last_exception)
    assert "network path looks dead" in caplog.text or "audio send failed" in caplog.text
    assert first.closed_at < marks["resumed"]
    # no session could open through the frozen path; the next one opened after the path came back
    later = client.sessions[1:]
    assert all(st.connected_at == 0 or st.connected_at >= marks["resumed"] for st in later)
    opened = [st for st in later if st.id is not None]
    assert opened, "a fresh session after the path came back"
    assert len(set(summary.session_ids)) == len(summary.session_ids) >= 2
    # the call ended normally on the last session, which transcribed the rest of the call
    assert summary.exit_code == EXIT_OK, summary.message
    assert client.sessions[-1] is opened[-1] and opened[-1].termination and opened[-1].turns
    assert client.reconnect_times and client.reconnect_times[-1] > 0
    # nothing captured was lost: every frame was sent once and the recording has the whole call
    assert summary.frames_dropped == 0 and summary.frames_sent == summary.frames_captured
    assert_recording_is_the_whole_source(summary, call_wav)


@pytest.mark.parametrize("proxy", [True], indirect=True)  # black hole from the first connection
def test_black_holed_handshake_times_out_and_is_retried_with_backoff(stream_server, proxy, short_wav, tmp_path,
                                                                     caplog):
    caplog.set_level(logging.INFO, logger="edge_client")
    s = dead_path_settings(tmp_path, proxy)
    marks: dict[str, float] = {}

    def restore_after_three_attempts(client):
        wait_for(lambda: len(proxy.connections) >= 3, 60, "three handshake attempts")
        marks["resumed"] = time.monotonic()
        proxy.resume()

    client, summary = run_call(s, stream_server.api_key, short_wav, publish=False,
                               during=restore_after_three_attempts)
    assert "resumed" in marks
    failed = [st for st in client.sessions if st.closed_at < marks["resumed"]]
    assert len(failed) >= 2
    for st in failed:  # each attempt timed out on its own (no hang), without a session
        assert st.id is None and st.connected_at == 0
        assert st.last_exception and "timed out" in st.last_exception, st.last_exception
        assert st.closed_at - st.opened_at <= CONNECT_TIMEOUT + SLACK
    # retried with backoff (equal jitter on 0.2 s doubling: [0.1, 0.2], [0.2, 0.4], [0.4, 0.8] ...)
    delays = reconnect_delays(caplog)
    assert len(delays) >= len(failed) and all(d > 0 for d in delays)
    assert delays[: len(failed)] == sorted(delays[: len(failed)])
    assert len(proxy.connections) == len(client.sessions)  # one TCP connection per attempt, in order
    assert summary.exit_code == EXIT_OK, summary.message
    assert summary.session_ids and client.sessions[-1].termination
    assert summary.frames_dropped == 0 and summary.frames_sent == summary.frames_captured
    assert_recording_is_the_whole_source(summary, short_wav)


@pytest.mark.parametrize("proxy", [True], indirect=True)
def test_black_hole_that_never_ends_gives_up_after_max_attempts(stream_server, proxy, short_wav, tmp_path):
    s = dead_path_settings(tmp_path, proxy, reconnect_max_attempts=2)
    started = time.monotonic()
    client, summary = run_call(s, stream_server.api_key, short_wav, publish=False)
    took = time.monotonic() - started
    assert summary.exit_code == EXIT_STREAMING and "giving up after 2 failed reconnects" in summary.message
    assert len(client.sessions) == 3 and not summary.session_ids
    # 3 connect timeouts + 2 backoff delays (each <= reconnect_cap), then the end: no hang
    assert took <= 3 * CONNECT_TIMEOUT + 2 * s.reconnect_cap + 2 * SLACK, took
    assert summary.recording.is_file()  # the recording holds what was captured until then
    with wave.open(str(summary.recording), "rb") as w:
        assert w.getnframes() == summary.frames_captured * 800
