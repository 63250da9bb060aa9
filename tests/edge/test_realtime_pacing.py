"""The client's DEFAULT pacing (source_speed 1, catchup_rate 2, max_lead_s 1.5) against a server that
enforces the service's real-time rule (enforce_realtime: true, 3007 "Audio Transmission Rate Exceeded"
beyond realtime_burst_seconds = 2 s ahead). Every other edge test streams at 3x with the check off."""

from __future__ import annotations

import logging
import re
import time
import wave

import pytest
import requests
from conftest import start_aai_server

from edge_client.audio import WavFileSource
from edge_client.client import EXIT_OK, EdgeClient
from edge_client.settings import Settings

from .conftest import wav_frames
from .helpers import edge_settings

pytestmark = pytest.mark.slow

CLIP_S = 12.0  # real time: this test takes about as long as the clip (+ the reconnect delay)
CLOSE_AFTER_S = 4.0
DEFAULTS = Settings()  # the pacing under test is the shipped one, not the tests' 3x


@pytest.fixture(scope="module")
def clip_wav(call_wav, tmp_path_factory):
    """The first 12 s of the sample call (two utterances and the start of a third)."""
    out = tmp_path_factory.mktemp("pacing") / "clip12.wav"
    with wave.open(str(call_wav), "rb") as src, wave.open(str(out), "wb") as dst:
        dst.setparams(src.getparams())
        dst.writeframes(src.readframes(int(src.getframerate() * CLIP_S)))
    return out


class TimedWav(WavFileSource):
    """A WavFileSource that notes when its last frame was produced (the end of capture)."""

    last_frame_at = 0.0

    def frames(self):
        for frame in super().frames():
            yield frame
            self.last_frame_at = time.monotonic()


def test_default_pacing_catches_up_after_a_reconnect_without_3007(tmp_path, clip_wav, caplog):
    faults = [{"group": "streaming", "action": "ws_close", "close_code": 3005, "after_seconds": CLOSE_AFTER_S,
               "next_n": 1}]
    server = start_aai_server(tmp_path, {"streaming": {"enforce_realtime": True, "realtime_burst_seconds": 2.0},
                                         "faults": {"rules": faults}})
    try:
        # A 2-4 s reconnect delay (equal jitter on 4 s): the backlog at the new session is more than
        # max_lead_s, so the lead cap, not the backlog running out, ends the catch-up.
        s = edge_settings(tmp_path, server.ws_url, source_speed=DEFAULTS.source_speed,
                          catchup_rate=DEFAULTS.catchup_rate, max_lead_s=DEFAULTS.max_lead_s,
                          reconnect_base=4.0, reconnect_cap=4.0)
        assert (s.source_speed, s.catchup_rate, s.max_lead_s) == (1.0, 2.0, 1.5)
        source = TimedWav(clip_wav, speed=s.source_speed)
        client = EdgeClient(s, server.api_key, source, out=lambda line: None)
        with caplog.at_level(logging.INFO, logger="edge_client.client"):
            t0 = time.monotonic()
            summary = client.run()
            wall = time.monotonic() - t0
        stats = requests.get(f"{server.base_url}/_local/stats", headers={"Authorization": server.api_key},
                             timeout=5).json()
    finally:
        server.stop()

    assert summary.exit_code == EXIT_OK, summary.message
    # the reconnect happened, and no session was closed for pacing
    assert summary.sessions == 2 and len(set(summary.session_ids)) == 2
    first, second = client.sessions
    assert first.close_code == 3005 and second.termination
    assert [st.close_code for st in client.sessions].count(3007) == 0 and second.error_code is None
    assert stats["events"].get("ws_close_3005") == 1 and "ws_close_3007" not in stats["events"], stats["events"]
    # everything captured was streamed, and the log says so
    assert summary.frames_sent == summary.frames_captured and summary.frames_dropped == 0
    assert f"frames_captured={summary.frames_captured} frames_sent={summary.frames_captured} " \
           "frames_dropped=0" in caplog.text
    # the recording is the whole clip, sample for sample (240 frames of 50 ms)
    clip_samples = wav_frames(clip_wav)
    assert summary.frames_captured * 800 == clip_samples == int(16000 * CLIP_S)
    assert wav_frames(summary.recording) == clip_samples
    with wave.open(str(summary.recording), "rb") as rec, wave.open(str(clip_wav), "rb") as src:
        assert rec.readframes(rec.getnframes()) == src.readframes(src.getnframes())

    # What the pacing achieves: the backlog of the outage is sent at up to catchup_rate x until the new
    # session is max_lead_s ahead of its clock, then in real time; the rest of the backlog stays as
    # added latency until the end of the call.
    buffered_at_close = int(re.search(r"reconnecting in [\d.]+s \((\d+) frames buffered\)", caplog.text).group(1))
    backlog_s = (second.connected_at - first.closed_at) + buffered_at_close * 0.05  # at the new session's start
    assert backlog_s > s.max_lead_s + 0.3, f"the reconnect left only {backlog_s:.2f} s to catch up"
    lag = second.terminate_sent_at - source.last_frame_at  # audio still unsent when capture ended
    expected = backlog_s - s.max_lead_s
    assert expected - 0.25 <= lag <= expected + 1.0, (lag, backlog_s)
    # no session ever ran more than max_lead_s ahead of its own wall clock (the client's side of 3007)
    for st in client.sessions:
        assert st.audio_sent_s <= (st.closed_at - st.connected_at) + s.max_lead_s + 1e-6
    assert wall >= CLIP_S
