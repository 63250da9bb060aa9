"""The poll schedule (call_analytics/polling.py), computed on a modelled clock: issue 13's goals and issue 10 item 1
(a lying WAV header must not hold a transcription slot for an hour)."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import pytest
from call_analytics.audio_probe import estimate_duration
from call_analytics.logic.check_transcript import check_transcript, first_wait_seconds
from call_analytics.models import CallState, PollState
from call_analytics.polling import PROMPT_WINDOW_SECONDS, PollPolicy, base_poll_times, poll_wait_seconds
from call_analytics.settings import CheckTranscriptSettings, SubmitTranscriptionSettings

DEFAULTS = CheckTranscriptSettings(CALLS_TABLE="t", ASSEMBLYAI_SECRET_ARN="s")
POLICY = PollPolicy.from_settings(DEFAULTS)
MINUTES = (1, 10, 60)
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def schedule(ready_at: float, estimate: float | None, policy: PollPolicy = POLICY) -> tuple[int, float]:
    """(polls, seconds after `ready_at` the completion is noticed) on a modelled clock."""
    elapsed, polls = 0.0, 0
    while True:
        elapsed += poll_wait_seconds(elapsed, policy, estimated_duration=estimate)
        polls += 1
        if elapsed >= ready_at:
            return polls, elapsed - ready_at
        assert polls < 1000, "the schedule never reached the completion"


def lying_wav(seconds: float = 30.0) -> bytes:
    """A PCM WAV header whose byte-rate field (offset 28) says 1 byte per second, as in issue 10."""
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    data = int(32000 * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    header += b"data" + struct.pack("<I", data)
    return header[:28] + struct.pack("<I", 1) + header[32:]


def test_a_lying_wav_header_does_not_delay_the_first_poll():
    # GIVEN a 30 s WAV whose header claims 1 byte/s: the estimate is about 11 days
    header = lying_wav()
    duration, how = estimate_duration(header, len(header) + 32000 * 30)
    assert how == "header" and duration > 24 * 3600
    # WHEN the first poll wait is chosen (SubmitTranscription puts it in slot.wait_seconds)
    submit_settings = SubmitTranscriptionSettings(CALLS_TABLE="t", ASSEMBLYAI_SECRET_ARN="s", RECORDINGS_BUCKET="b",
                                                  LIMITS_TABLE="l")
    # THEN it is POLL_INITIAL_SECONDS, as for any recording (it used to be an hour)
    assert first_wait_seconds(duration, submit_settings) == submit_settings.POLL_INITIAL_SECONDS == 5
    assert first_wait_seconds(duration, DEFAULTS) == 5
    # ... and the second one does not jump to the estimate either
    assert poll_wait_seconds(5, POLICY, estimated_duration=duration) == 5


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("estimate_factor", [None, 0.1, 1, 10, 100_000])
def test_fast_days_are_noticed_within_5s_plus_a_quarter_of_the_processing_time(minutes, estimate_factor):
    # GIVEN AssemblyAI's documented turnaround: 3 s queue + 0.01 x audio; an estimate off by 10x either way,
    # missing, or a lying header
    audio = minutes * 60.0
    ready = 3 + 0.01 * audio
    estimate = audio * estimate_factor if estimate_factor else None
    # WHEN polling on the schedule
    _, late = schedule(ready, estimate)
    # THEN the completion is noticed within 5 s + 25 % of the processing time (issue 13)
    assert late <= 5 + 0.25 * ready, (minutes, estimate_factor, late)


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("estimate_factor", [None, 1, 10])
def test_slow_days_cost_at_most_10_polls(minutes, estimate_factor):
    audio = minutes * 60.0
    polls, _ = schedule(0.3 * audio, audio * estimate_factor if estimate_factor else None)
    assert polls <= 10, (minutes, estimate_factor, polls)


def test_an_estimate_only_brings_a_poll_forward():
    # the soft cap: with any estimate, no wait is longer than without one
    for elapsed in (0, 3, 10, 44, 45, 100, 500, 2000):
        plain = poll_wait_seconds(elapsed, POLICY)
        for estimate in (1, 60, 600, 3600, 36000, 1e9):
            assert 1 <= poll_wait_seconds(elapsed, POLICY, estimated_duration=estimate) <= plain
    # a 10-minute call on a slow day (0.3 x audio = 180 s, + 5 s of queue allowance) is polled right then
    assert poll_wait_seconds(135, POLICY, estimated_duration=600) == 50
    assert schedule(3 + 0.3 * 600, 600) == (9, 2)  # noticed 2 s after it is done (without the estimate: 222 s)
    assert schedule(3 + 0.3 * 600, None)[1] == 222


def test_the_schedule_grows_inside_the_prompt_window_then_triples_and_is_capped():
    # 5 s apart at first, then 30 % of the elapsed time, after the prompt window the poll times triple
    assert base_poll_times(POLICY, 500) == [5, 10, 15, 20, 26, 34, 45, 135, 405, 1215]
    assert PROMPT_WINDOW_SECONDS == 45
    assert poll_wait_seconds(0, POLICY) == 5 and poll_wait_seconds(10, POLICY) == 5  # the floor
    assert poll_wait_seconds(34, POLICY) == 11 and poll_wait_seconds(45, POLICY) == 90
    assert poll_wait_seconds(1215, POLICY) == POLICY.max_seconds == 900  # then every 15 minutes
    capped = PollPolicy(initial_seconds=3, backoff=2, max_seconds=30)
    assert base_poll_times(capped, 100)[:6] == [3, 6, 12, 24, 48, 78]
    assert poll_wait_seconds(0, capped) == 3 and poll_wait_seconds(24, capped) == 24
    assert poll_wait_seconds(1008, capped) == 30  # 78 + 30 k: capped at POLL_MAX_SECONDS


def test_a_late_poll_counts_for_its_schedule_time_and_the_schedule_does_not_move():
    # Lambda and API latencies: a poll 0.9 s after its time 20 waits for 26, not for 20 + 30 %
    assert poll_wait_seconds(20.9, POLICY) == 6
    # a poll made early for an estimate (38 s: between 34 and 45) goes back to the schedule: 45, then 135
    assert poll_wait_seconds(34, POLICY, estimated_duration=110) == 4  # expected at 5 + 110 x 0.3 = 38
    assert poll_wait_seconds(38, POLICY, estimated_duration=110) == 7
    assert poll_wait_seconds(45, POLICY, estimated_duration=110) == 90


def test_check_transcript_waits_from_the_time_since_submitting():
    # GIVEN a job submitted 40 s ago, still processing
    class ProcessingDouble:
        def get_transcript(self, transcript_id):
            return {"id": transcript_id, "status": "processing"}

    class NullCallsDouble:
        def update_fields(self, *args, **kwargs):
            pass

    state = CallState.model_validate({
        "call_id": "c-1", "transcript_id": "t-1",
        "slot": {"acquired": True, "transcript_id": "t-1", "estimated_duration": 1e9},  # a lying header
        "poll": PollState(status="processing", wait_seconds=5, polls=5, started_at=EPOCH.isoformat()).model_dump()})
    poll = check_transcript(state, settings=DEFAULTS, aai=ProcessingDouble(), calls=NullCallsDouble(),
                            now=lambda: EPOCH + timedelta(seconds=40))
    # THEN the next poll is the schedule's next time (45 s), not POLL_INITIAL_SECONDS x POLL_BACKOFF^polls nor the
    # estimate
    assert (poll.status, poll.polls, poll.wait_seconds) == ("processing", 6, 5)
