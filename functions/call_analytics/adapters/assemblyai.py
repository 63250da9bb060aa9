"""AssemblyAI REST v2 + LLM Gateway client on `requests`, with timeouts, bounded retries and error mapping.

Auth is the raw key in `Authorization` (no `Bearer`). Retries: 429 (honouring `Retry-After`, plus up to 20 % jitter),
5xx, connection errors and timeouts, with exponential backoff and full jitter. What is left after the
retries becomes ThrottledError / TransientError; other 4xx become PermanentError. Every error message
carries the API's own error text, never the key.

* A `Retry-After` longer than `max_retry_after` (any retryable status) is not slept in the Lambda: the
  ThrottledError (429) / TransientError (5xx) is raised at once with `retry_after`, the state machine waits.
* `POST /v2/transcript` is not idempotent (each accepted POST is a billed job). It is retried only when the
  request certainly was not processed (connection refused, connect timeout, 429). After a read timeout, a
  connection reset or a 5xx the job may exist: the client looks for it (`GET /v2/transcript?limit=…`, an item
  with the same `audio_url` created since the first attempt) and adopts it; if there is none it raises
  TransientError ("outcome unknown") and the state machine retries the submission.
* `deadline` (a callable: seconds this invocation may still spend, see `wiring.lambda_deadline`) bounds
  every attempt and every backoff sleep: per-attempt timeouts shrink to what is left, and when the next attempt
  or sleep would pass it the client raises TransientError / ThrottledError ("… deadline …") instead of letting
  the Lambda time out.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import functools
import json
import logging
import random
import time
from collections.abc import Callable
from typing import IO, Any

import requests
from urllib3.exceptions import NewConnectionError

from call_analytics.errors import CallAnalyticsError, PermanentError, ThrottledError, TransientError
from call_analytics.redaction import register_secret, scrub_exception

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_JITTER = 0.2
USER_AGENT = "call-analytics/1.0 (+python-requests)"
#: no attempt is started with less than this left before the deadline
MIN_ATTEMPT_SECONDS = 1.0
#: how many of the newest transcripts are searched for a submission whose outcome is unknown (API max 200)
SUBMIT_LOOKUP_LIMIT = 100
#: tolerance between our clock and AssemblyAI's `created` when matching a submission to its job
SUBMIT_LOOKUP_CLOCK_SKEW_SECONDS = 5.0

log = logging.getLogger(__name__)


def _redacted(method: Callable[..., Any]) -> Callable[..., Any]:
    """Errors leave the client with the key, and any auth value or token the API echoed, masked
    (call_analytics/redaction.py): their messages become failure reasons and Step Functions history."""

    @functools.wraps(method)
    def wrapper(self: AssemblyAIClient, *args: Any, **kwargs: Any) -> Any:
        try:
            key = self._key()
        except Exception:  # the method itself raises the reason
            key = None
        register_secret(key)  # the loggers and handlers mask it too
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            scrub_exception(exc, (key,))
            raise

    return wrapper


def api_error_text(response: requests.Response) -> str:
    """The error message from any of the envelopes of contract §1.3 / §3.6, else the raw body (truncated)."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:500] if text else (response.reason or f"HTTP {response.status_code}")
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and error.get("message"):
            return _with_details(str(error["message"]), error.get("metadata"))
        if body.get("message"):
            return _with_details(str(body["message"]), body.get("metadata"))
    return json.dumps(body)[:500]


def _with_details(message: str, metadata: Any) -> str:
    errors = metadata.get("errors") if isinstance(metadata, dict) else None
    if isinstance(errors, list) and errors:
        return f"{message} ({'; '.join(map(str, errors))})"
    return message


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: an integer, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _OutcomeUnknown(Exception):
    """A non-idempotent request failed after it may have been processed (internal: never leaves the client)."""

    def __init__(self, reason: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after


class _Body:
    """A re-readable request body: bytes, a seekable file object, or a zero-argument opener."""

    def __init__(self, data: bytes | IO[bytes] | Callable[[], IO[bytes]]):
        self._data = data
        self._start = data.tell() if hasattr(data, "seek") and hasattr(data, "tell") else None
        self._used = False

    def fresh(self) -> bytes | IO[bytes]:
        data = self._data
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        if callable(data) and not hasattr(data, "read"):
            return data()
        if self._used:
            if self._start is None:
                raise TransientError("upload stream cannot be replayed for a retry")
            data.seek(self._start)
        self._used = True
        return data


class AssemblyAIClient:
    """Synchronous client; one instance per container is enough (it reuses a pooled Session)."""

    def __init__(
        self,
        api_key: str | Callable[[], str],
        *,
        api_base_url: str | None = "https://api.assemblyai.com",
        llm_base_url: str | None = "https://llm-gateway.assemblyai.com/v1",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        upload_timeout: float = 300.0,
        llm_timeout: float = 120.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 20.0,
        deadline: Callable[[], float] | None = None,
        submit_lookup_limit: int = SUBMIT_LOOKUP_LIMIT,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        """`deadline`: a callable giving the seconds this invocation may still spend (None: no deadline)."""
        self._api_key = api_key
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.llm_base_url = llm_base_url.rstrip("/") if llm_base_url else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.upload_timeout = upload_timeout
        self.llm_timeout = llm_timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.deadline = deadline
        self.submit_lookup_limit = max(1, min(200, submit_lookup_limit))
        self.session = session or requests.Session()
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:  # never show the key
        return f"AssemblyAIClient(api_base_url={self.api_base_url!r}, llm_base_url={self.llm_base_url!r})"

    def with_deadline(self, deadline: Callable[[], float] | None) -> AssemblyAIClient:
        """This client (same settings, same pooled Session) bound to one invocation's deadline."""
        bound = copy.copy(self)
        bound.deadline = deadline
        return bound

    # ---- REST v2 -------------------------------------------------------------------------------
    @_redacted
    def upload(self, data: bytes | IO[bytes] | Callable[[], IO[bytes]], *, size: int | None = None) -> str:
        """POST /v2/upload with the raw bytes (streamed when a file object is given); returns upload_url."""
        body = _Body(data)
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        response = self._request(
            "POST", self._api("/v2/upload"), body=body, headers=headers, read_timeout=self.upload_timeout
        )
        url = self._json(response).get("upload_url")
        if not url:
            raise TransientError("AssemblyAI POST /v2/upload returned no upload_url")
        return url

    @_redacted
    def submit_transcript(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/transcript; returns the Transcript object (any status). Never POSTs twice when the first
        POST may have created a job: that job is looked up and adopted (its list item is returned: `id`,
        `status`, `audio_url`, `created`, ...), or TransientError says the outcome is unknown."""
        audio_url = params.get("audio_url")
        if not audio_url:
            raise PermanentError("submit_transcript needs an audio_url")
        started = time.time()  # wall clock: compared with the API's `created`
        try:
            response = self._request("POST", self._api("/v2/transcript"), json_body=params, idempotent=False)
        except _OutcomeUnknown as unknown:
            return self._find_submitted(audio_url, started, unknown)
        transcript = self._json(response)
        if not transcript.get("id"):
            raise TransientError("AssemblyAI POST /v2/transcript returned no transcript id")
        return transcript

    def _find_submitted(self, audio_url: str, started: float, unknown: _OutcomeUnknown) -> dict[str, Any]:
        """The job a POST /v2/transcript with an unknown outcome created, from the newest transcripts; one
        list request (plus the usual GET retries), else TransientError so the state machine retries the submit."""

        def outcome_unknown(why: str) -> TransientError:
            return TransientError(f"{unknown.reason}; outcome unknown ({why}): not submitting again here",
                                  status_code=unknown.status_code, retry_after=unknown.retry_after)

        self._pause(self._backoff(1), outcome_unknown("no time left to look for the job"))
        try:
            body = self._json(self._request("GET", self._api("/v2/transcript"),
                                            params={"limit": self.submit_lookup_limit}))
        except CallAnalyticsError as exc:  # even a 4xx from the list says nothing about the submission
            raise outcome_unknown(f"looking for the job failed: {exc}") from None
        since = started - SUBMIT_LOOKUP_CLOCK_SKEW_SECONDS
        candidates = []
        for item in body.get("transcripts") or []:
            if not isinstance(item, dict) or not item.get("id") or item.get("audio_url") != audio_url:
                continue
            created = _timestamp(item.get("created"))
            if created is not None and created >= since:
                candidates.append((created, item))
        if not candidates:
            raise outcome_unknown(f"no transcript for this audio_url created since the first attempt among the "
                                  f"newest {self.submit_lookup_limit}")
        adopted = min(candidates, key=lambda c: c[0])[1]
        log.warning("AssemblyAI POST /v2/transcript: outcome unknown, adopted the job it created",
                    extra={"transcript_id": adopted["id"], "reason": unknown.reason})
        return adopted

    @_redacted
    def get_transcript(self, transcript_id: str) -> dict[str, Any]:
        return self._json(self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}")))

    @_redacted
    def get_vtt(self, transcript_id: str, *, chars_per_caption: int | None = None) -> str:
        params = {"chars_per_caption": chars_per_caption} if chars_per_caption else None
        response = self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}/vtt"), params=params)
        return response.text

    @_redacted
    def get_sentences(self, transcript_id: str) -> list[dict[str, Any]]:
        body = self._json(self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}/sentences")))
        return list(body.get("sentences") or [])

    # ---- LLM Gateway ---------------------------------------------------------------------------
    @_redacted
    def chat_completion(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/chat/completions (non-streaming); returns the whole response object."""
        if not self.llm_base_url:
            raise PermanentError("no LLM gateway base URL configured")
        response = self._request(
            "POST", f"{self.llm_base_url}/chat/completions", json_body=request, read_timeout=self.llm_timeout
        )
        body = self._json(response)
        if not isinstance(body.get("choices"), list) or not body["choices"]:
            raise TransientError(f"LLM gateway returned no choices: {json.dumps(body)[:300]}")
        return body

    # ---- plumbing ------------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        if not self.api_base_url:
            raise PermanentError("no AssemblyAI API base URL configured")
        return self.api_base_url + path

    def _key(self) -> str:
        return self._api_key() if callable(self._api_key) else self._api_key

    def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: dict[str, Any] | None = None,
        body: _Body | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """`idempotent=False`: retried only when the request certainly was not processed (connection refused,
        connect timeout, 429); any other failure raises _OutcomeUnknown for the caller to resolve."""
        what = f"AssemblyAI {method} {_path(url)}"
        all_headers = {"Authorization": self._key(), "User-Agent": USER_AGENT, **(headers or {})}
        read_limit = read_timeout or self.read_timeout
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            timeout = self._attempt_timeout(what, read_limit)
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json_body,
                    data=body.fresh() if body is not None else None,
                    params=params,
                    headers=all_headers,
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                if not idempotent and not _certainly_not_sent(exc):
                    raise _OutcomeUnknown(f"{what} failed: {_short(exc)}") from None
                if isinstance(exc, requests.Timeout):
                    failure = "timed out"
                elif isinstance(exc, requests.ConnectionError):
                    failure = "could not connect"
                else:
                    raise TransientError(f"{what} failed: {_short(exc)}") from None
                if last:
                    raise TransientError(
                        f"{what} {failure} after {self.max_attempts} attempts: {_short(exc)}"
                    ) from None
                self._pause(self._backoff(attempt), TransientError(f"{what} {failure}: {_short(exc)}"))
                continue

            status = response.status_code
            if status < 400:
                return response
            text = api_error_text(response)
            if status not in RETRYABLE_STATUS:
                raise PermanentError(f"{what} failed with HTTP {status}: {text}", status_code=status)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if not idempotent and status != 429:  # a 5xx after the request was sent: it may have been processed
                raise _OutcomeUnknown(f"{what} failed with HTTP {status}: {text}", status_code=status,
                                      retry_after=retry_after)
            if retry_after is not None and retry_after > self.max_retry_after:
                # a long wait is the state machine's job, not the Lambda's (whatever the retryable status)
                raise _retryable(what, status, text, retry_after, f"; Retry-After {retry_after:.0f}s")
            if last:
                raise _retryable(what, status, text, retry_after, "", attempts=self.max_attempts)
            # Retry-After plus up to 20 % jitter: clients told the same moment do not all come back at once
            wait = (retry_after * (1 + RETRY_AFTER_JITTER * self._jitter()) if retry_after is not None
                    else self._backoff(attempt))
            self._pause(wait, _retryable(what, status, text, retry_after, ""))
        raise AssertionError("unreachable")  # pragma: no cover

    def _left(self) -> float | None:
        return None if self.deadline is None else self.deadline()

    def _attempt_timeout(self, what: str, read_limit: float) -> tuple[float, float]:
        """(connect, read) for the next attempt: the configured ones, shrunk so the attempt ends by the deadline."""
        left = self._left()
        if left is None:
            return self.connect_timeout, read_limit
        if left < MIN_ATTEMPT_SECONDS:
            raise TransientError(f"{what} not attempted: the invocation deadline is {max(0.0, left):.1f}s away")
        connect = min(self.connect_timeout, left / 2)
        return connect, min(read_limit, left - connect)

    def _pause(self, seconds: float, error: CallAnalyticsError) -> None:
        """Sleep before the next attempt; when the sleep plus a minimal attempt would pass the deadline, raise
        `error` (the retryable one: the state machine retries) instead."""
        left = self._left()
        if left is not None and seconds + MIN_ATTEMPT_SECONDS > left:
            error.args = (f"{error}; not retried here: the next attempt in {seconds:.1f}s would pass the "
                          f"invocation deadline ({max(0.0, left):.1f}s left)",)
            raise error
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return self._jitter() * min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"AssemblyAI {response.request.method} {_path(response.url)} returned non-JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(body, dict):
            raise TransientError(f"AssemblyAI {_path(response.url)} returned {type(body).__name__}, expected an object")
        return body


def _id(transcript_id: str) -> str:
    if not transcript_id or "/" in transcript_id:
        raise PermanentError(f"invalid transcript id {transcript_id!r}")
    return transcript_id


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path or "/"


def _certainly_not_sent(exc: requests.RequestException) -> bool:
    """The request never reached the server: a connect timeout, or the connection was refused / not resolved."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _timestamp(value: Any) -> float | None:
    """An API `created` (ISO 8601; naive = UTC, as AssemblyAI sends it) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _retryable(what: str, status: int, text: str, retry_after: float | None, note: str, *,
               attempts: int | None = None) -> ThrottledError | TransientError:
    """ThrottledError for a 429, else TransientError; both carry `retry_after`."""
    after = f" after {attempts} attempts" if attempts else ""
    if status == 429:
        return ThrottledError(f"{what} rate limited (HTTP 429){after}: {text}{note}", retry_after=retry_after)
    return TransientError(f"{what} failed with HTTP {status}{after}: {text}{note}", status_code=status,
                          retry_after=retry_after)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
