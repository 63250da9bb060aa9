"""Riding out an AssemblyAI / LLM Gateway outage in a Step Functions Wait state, not inside a Lambda.

A task whose API call still fails after the client's short in-Lambda retries (ThrottledError: 429;
TransientError: 5xx, timeouts, connection errors) does not raise: it answers "retry" with `wait_seconds` and the
`outage` it is in, the state machine waits that long (a Wait state, SecondsPath) and runs the task again. The wait
is the server's Retry-After (+ up to 20 % jitter, so callers told the same moment spread out), else exponential
backoff with equal jitter. Once OUTAGE_BUDGET_SECONDS of waiting are spent in one outage the task raises
OutageBudgetExhausted with the last error (Catch -> RecordFailure: FAILED with the reason, announced). A success
ends the outage (the next one starts a new budget).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime

from call_analytics.errors import OutageBudgetExhausted, ThrottledError, TransientError
from call_analytics.models import OutageState

#: the errors an outage consists of (a deliberate pair: Step Functions matched on the same names before)
OUTAGE_ERRORS = (ThrottledError, TransientError)
#: first wait without a Retry-After; later ones double, up to OUTAGE_WAIT_MAX_SECONDS
OUTAGE_WAIT_INITIAL_SECONDS = 5
OUTAGE_WAIT_MAX_SECONDS = 120
RETRY_AFTER_JITTER = 0.2
#: stored reasons are cut to this length (the state and the call record stay small)
REASON_CHARS = 500


def outage_wait_seconds(retry_after: float | None, waits: int, jitter: Callable[[], float] = random.random) -> int:
    """Retry-After (+ up to 20 %) when the server gave one, else 5 s x 2^waits capped at 120 s (equal jitter)."""
    if retry_after is not None and retry_after > 0:
        return max(1, math.ceil(retry_after * (1 + RETRY_AFTER_JITTER * jitter())))
    ceiling = min(OUTAGE_WAIT_MAX_SECONDS, OUTAGE_WAIT_INITIAL_SECONDS * 2 ** max(0, waits))
    return max(1, math.ceil(ceiling / 2 + jitter() * ceiling / 2))


def ride_out(
    previous: OutageState | None,
    exc: ThrottledError | TransientError,
    *,
    step: str,
    budget_seconds: int,
    now: datetime,
    jitter: Callable[[], float] = random.random,
) -> OutageState:
    """The outage after `exc` (with the next wait), or OutageBudgetExhausted when its budget is spent.
    The last wait is cut to what is left of the budget: one more attempt at the edge, then the failure."""
    waits = previous.waits if previous else 0
    waited = previous.waited_seconds if previous else 0
    since = previous.since if previous else now.isoformat()
    reason = f"{type(exc).__name__}: {exc}"[:REASON_CHARS]
    left = budget_seconds - waited
    if left <= 0:
        raise OutageBudgetExhausted(
            f"{step}: the API kept failing through {waited}s of waits since {since} ({waits} waits; "
            f"OUTAGE_BUDGET_SECONDS={budget_seconds}); last error: {reason}")
    wait = min(outage_wait_seconds(getattr(exc, "retry_after", None), waits, jitter), left)
    return OutageState(step=step, since=since, waits=waits + 1, waited_seconds=waited + wait, wait_seconds=wait,
                       error=type(exc).__name__, reason=reason)
