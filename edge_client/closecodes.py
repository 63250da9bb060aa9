"""The one place that turns how a streaming session ended into what the client does next.

Inputs: the websocket close code/reason, the HTTP status of a rejected handshake, the last `Error`
message, and whether `Termination` was received. Output: DONE, FATAL (clear message, no retry),
RETRY (jittered exponential backoff) or RETRY_NOW (3008: the session hit its maximum duration).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    DONE = "done"
    FATAL = "fatal"
    RETRY = "retry"
    RETRY_NOW = "retry_now"


@dataclass(frozen=True)
class Outcome:
    action: Action
    code: int | None
    message: str
    auth: bool = False  # an authentication/authorisation failure (exit code 3)


# Close codes of Streaming v3 and the legacy realtime range the SDK still maps.
AUTH_CODES = {1008: "unauthorized (bad or missing API key, account disabled or out of balance)",
              4001: "not authorized", 4002: "insufficient funds", 4003: "free tier user"}
FATAL_CODES = {
    1002: "protocol error", 1003: "unsupported data", 1007: "invalid payload data",
    3006: "invalid message (the client sent a message the service rejects)",
    3007: "audio chunk size or pacing violation",
    4000: "invalid sample rate or parameter", 4100: "endpoint error", 4101: "invalid message type",
    4102: "invalid audio format", 4103: "invalid parameter",
}
RETRY_NOW_CODES = {3008: "session expired (maximum session duration)", 4008: "session expired"}
RETRY_CODES = {
    1001: "server going away", 1011: "server internal error", 1012: "service restart",
    1013: "temporary server condition", 3005: "server error (session cancelled)",
    3009: "too many concurrent sessions", 4029: "audio sent too fast", 4031: "session idle too long",
}
FATAL_HTTP = {400: "bad request (check --speech-model, --sample-rate and the prompt)",
              401: "unauthorized: the API key was rejected", 403: "forbidden: the API key is not allowed here",
              404: "streaming endpoint not found (check --api-url)"}


def classify(close_code: int | None, close_reason: str | None = None, *, http_status: int | None = None,
             termination: bool = False, error_code: int | None = None) -> Outcome:
    reason = f": {close_reason}" if close_reason else ""
    if termination:
        return Outcome(Action.DONE, close_code, "session terminated normally")
    if http_status is not None:
        if http_status in FATAL_HTTP:
            return Outcome(Action.FATAL, http_status, f"handshake rejected with HTTP {http_status}, "
                           f"{FATAL_HTTP[http_status]}", auth=http_status in (401, 403))
        if http_status == 429 or http_status >= 500:
            return Outcome(Action.RETRY, http_status, f"handshake failed with HTTP {http_status} (temporary)")
        return Outcome(Action.FATAL, http_status, f"handshake rejected with HTTP {http_status}")
    code = close_code if close_code is not None else error_code
    if code in AUTH_CODES:
        return Outcome(Action.FATAL, code, f"closed with {code}, {AUTH_CODES[code]}{reason}. Check the "
                       "API key (ASSEMBLYAI_API_KEY or `python -m edge_client --store-key`).", auth=True)
    if code == 3007 and "rate" in (close_reason or "").lower():
        # Too fast is a pacing problem, not a bad request: reconnect (the new session is paced from 0).
        return Outcome(Action.RETRY, code, f"closed with 3007, audio sent faster than allowed{reason}")
    if code in FATAL_CODES:
        return Outcome(Action.FATAL, code, f"closed with {code}, {FATAL_CODES[code]}{reason}")
    if code in RETRY_NOW_CODES:
        return Outcome(Action.RETRY_NOW, code, f"closed with {code}, {RETRY_NOW_CODES[code]}{reason}")
    if code in RETRY_CODES:
        return Outcome(Action.RETRY, code, f"closed with {code}, {RETRY_CODES[code]}{reason}")
    if code is None:
        return Outcome(Action.RETRY, None, "connection lost (no close frame: network drop, timeout or "
                       "server crash)")
    if code == 1000:
        # A normal close without Termination: the server ended the session early; start a new one.
        return Outcome(Action.RETRY, code, f"closed normally before Termination{reason}")
    if 4000 <= code < 4100:
        return Outcome(Action.FATAL, code, f"closed with client error {code}{reason}")
    return Outcome(Action.RETRY, code, f"closed with {code}{reason}")
