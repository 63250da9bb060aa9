"""Jittered exponential backoff (reconnects) and full-jitter delays (SNS publish retries)."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """AWS 'full jitter': uniform(0, min(cap, base * 2**attempt)); attempt counts from 0."""
    r = rng or random
    return r.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


class Backoff:
    """Reconnect delays: base * 2**n capped, with 'equal jitter' (half fixed, half random) so a fleet
    of PCs does not reconnect in lockstep while each still waits a minimum. `reset()` after a healthy
    session; `exhausted` once `max_attempts` consecutive failures happened."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, max_attempts: int = 12,
                 rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base, self.cap, self.max_attempts = base, cap, max_attempts
        self.attempts = 0
        self._rng = rng or random.Random()

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_attempts

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempts = 0
