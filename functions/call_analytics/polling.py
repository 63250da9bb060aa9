"""When to poll an AssemblyAI job next: one pure function (docs/architecture.md, "Completion detection").

AssemblyAI finishes most files in well under a minute (real-time factor near 0.01), some days far slower, and the
duration estimate from a header can be wrong by any factor (a WAV that states a byte rate of 1 "lasts" for days).
So promptness never depends on the estimate:

* the first poll comes POLL_INITIAL_SECONDS after submitting, whatever the recording;
* inside the prompt window (the first PROMPT_WINDOW_SECONDS) the poll times grow by POLL_BACKOFF: the next wait is
  max(POLL_INITIAL_SECONDS, (POLL_BACKOFF - 1) x elapsed), so a job is noticed at most (POLL_BACKOFF - 1) x its
  processing time (or POLL_INITIAL_SECONDS) after it is done;
* after the window (a slow day, or a long recording) they grow by LATE_BACKOFF, so a slow job costs few polls;
* every wait is capped at POLL_MAX_SECONDS;
* the estimate adds at most one poll: when POLL_INITIAL_SECONDS + duration x POLL_EXPECTED_RTF (the expected
  queue + processing time) falls before the next scheduled poll, a poll comes then too. The schedule's own times do
  not move, so a wrong estimate (10x either way) costs one poll and never a later notice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: seconds after submitting during which polls stay close together (covers an hour of audio at RTF 0.01)
PROMPT_WINDOW_SECONDS = 45
#: growth of the poll times after the prompt window
LATE_BACKOFF = 3.0


@dataclass(frozen=True)
class PollPolicy:
    initial_seconds: int = 5  # POLL_INITIAL_SECONDS: the first wait and the shortest one
    backoff: float = 1.3  # POLL_BACKOFF: poll-time growth inside the prompt window
    max_seconds: int = 900  # POLL_MAX_SECONDS
    expected_rtf: float = 0.3  # POLL_EXPECTED_RTF: processing seconds per audio second for the soft cap

    @classmethod
    def from_settings(cls, settings: object) -> PollPolicy:
        return cls(initial_seconds=settings.POLL_INITIAL_SECONDS,  # type: ignore[attr-defined]
                   backoff=getattr(settings, "POLL_BACKOFF", cls.backoff),
                   max_seconds=getattr(settings, "POLL_MAX_SECONDS", cls.max_seconds),
                   expected_rtf=settings.POLL_EXPECTED_RTF)  # type: ignore[attr-defined]


def base_poll_times(policy: PollPolicy, until: float) -> list[float]:
    """The schedule's poll times (seconds after submitting) up to the first one past `until`: POLL_INITIAL_SECONDS
    apart at first, growing by POLL_BACKOFF inside the prompt window and by LATE_BACKOFF after it, every gap at
    most POLL_MAX_SECONDS."""
    floor = max(1, policy.initial_seconds)
    times = [float(min(floor, policy.max_seconds))]
    while times[-1] <= until:
        elapsed = times[-1]
        growth = policy.backoff if elapsed < PROMPT_WINDOW_SECONDS else max(policy.backoff, LATE_BACKOFF)
        gap = max(floor, math.ceil(round((growth - 1) * elapsed, 6)))  # round: 0.3 x 40 is 12, not 13
        times.append(elapsed + min(gap, max(1, policy.max_seconds)))
    return times


def poll_wait_seconds(elapsed: float, policy: PollPolicy, *, estimated_duration: float | None = None) -> int:
    """Seconds to wait before the next poll, `elapsed` seconds after the job was submitted (0 = the first wait).

    The next poll is the schedule's next time (base_poll_times), or the estimate's expected completion if that
    comes first. The schedule's times do not move: a poll made early for the estimate (a header that lies) costs
    one poll and shifts nothing after it. A poll that arrives a little late (Lambda and API latencies) counts for
    the schedule time it was meant for."""
    floor = max(1, policy.initial_seconds)
    if elapsed <= 0:
        return min(floor, policy.max_seconds)
    slack = floor / 2  # closer than this to a schedule time: that time is this poll's
    nxt = next(t for t in base_poll_times(policy, elapsed + slack) if t > elapsed + slack)
    wait = max(1.0, nxt - elapsed)
    if estimated_duration and estimated_duration > 0 and policy.expected_rtf > 0:
        expected = floor + estimated_duration * policy.expected_rtf  # + a queue allowance
        if elapsed + slack < expected < elapsed + wait:  # be there when it is expected to be done
            wait = expected - elapsed
    return int(min(max(1, policy.max_seconds), max(1, math.ceil(round(wait, 6)))))
