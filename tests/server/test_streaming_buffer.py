"""The streaming session's rolling audio buffer: absolute indexing, trimming to what is still needed,
amortised appends, bounded memory over a long session. No server, no decoder."""

from __future__ import annotations

import numpy as np
import pytest

from local_assemblyai.streaming import SR, RollingAudio


def test_absolute_slices_survive_trimming_and_growth():
    buf = RollingAudio(capacity=1000)
    ref = np.arange(10_000, dtype=np.float32)
    for i in range(0, len(ref), 300):
        buf.keep_from = max(0, i - 700)  # a reader that always needs the last 700 samples
        buf.append(ref[i:i + 300])
    assert len(buf) == len(ref)
    np.testing.assert_array_equal(buf[9300:10_000], ref[9300:])
    np.testing.assert_array_equal(buf[9500:20_000], ref[9500:])  # clamped at the end, like numpy
    assert buf[9999:9000].size == 0
    with pytest.raises(IndexError, match="already dropped"):
        buf[0:10]


def test_nothing_needed_is_dropped_while_a_long_turn_is_open():
    buf = RollingAudio(capacity=SR)
    ref = np.random.default_rng(1).standard_normal(40 * SR).astype(np.float32)
    for i in range(0, len(ref), 800):
        buf.keep_from = 5 * SR  # a turn open since 5 s: everything from there is kept
        buf.append(ref[i:i + 800])
    np.testing.assert_array_equal(buf[5 * SR:40 * SR], ref[5 * SR:])
    assert buf.held_seconds <= 36


def test_memory_is_bounded_by_what_is_needed_not_by_the_session_length():
    buf = RollingAudio(capacity=2 * SR)
    chunk = np.ones(800, np.float32)
    for _ in range(20 * 60 * 60):  # an hour of 50 ms chunks (3 s of turn context kept)
        buf.keep_from = max(0, len(buf) - 3 * SR)
        buf.append(chunk)
    assert len(buf) == 3600 * SR
    assert buf._buf.size <= 4 * 3 * SR and buf.held_seconds <= 12  # at most ~4x what is needed
