"""AssemblyAI REST v2 + LLM Gateway client on `requests`, with timeouts, bounded retries and error mapping.

Auth is the raw key in `Authorization` (no `Bearer`). Retries: 429 (honouring `Retry-After`, plus up to 20 % jitter),
5xx, connection errors and timeouts, with exponential backoff and full jitter. What is left after the
retries becomes ThrottledError / TransientError; other 4xx become PermanentError. Every error message
carries the API's own error text, never the key.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from typing import IO, Any

import requests

from call_analytics.errors import PermanentError, ThrottledError, TransientError

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_JITTER = 0.2
USER_AGENT = "call-analytics/1.0 (+python-requests)"


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
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
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
        self.session = session or requests.Session()
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:  # never show the key
        return f"AssemblyAIClient(api_base_url={self.api_base_url!r}, llm_base_url={self.llm_base_url!r})"

    # ---- REST v2 -------------------------------------------------------------------------------
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

    def submit_transcript(self, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/transcript; returns the Transcript object (any status)."""
        if not params.get("audio_url"):
            raise PermanentError("submit_transcript needs an audio_url")
        transcript = self._json(self._request("POST", self._api("/v2/transcript"), json_body=params))
        if not transcript.get("id"):
            raise TransientError("AssemblyAI POST /v2/transcript returned no transcript id")
        return transcript

    def get_transcript(self, transcript_id: str) -> dict[str, Any]:
        return self._json(self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}")))

    def get_vtt(self, transcript_id: str, *, chars_per_caption: int | None = None) -> str:
        params = {"chars_per_caption": chars_per_caption} if chars_per_caption else None
        response = self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}/vtt"), params=params)
        return response.text

    def get_sentences(self, transcript_id: str) -> list[dict[str, Any]]:
        body = self._json(self._request("GET", self._api(f"/v2/transcript/{_id(transcript_id)}/sentences")))
        return list(body.get("sentences") or [])

    # ---- LLM Gateway ---------------------------------------------------------------------------
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
    ) -> requests.Response:
        what = f"AssemblyAI {method} {_path(url)}"
        all_headers = {"Authorization": self._key(), "User-Agent": USER_AGENT, **(headers or {})}
        timeout = (self.connect_timeout, read_timeout or self.read_timeout)
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
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
            except requests.Timeout as exc:
                if last:
                    raise TransientError(
                        f"{what} timed out after {self.max_attempts} attempts: {_short(exc)}"
                    ) from None
                self._sleep(self._backoff(attempt))
                continue
            except requests.ConnectionError as exc:
                if last:
                    raise TransientError(
                        f"{what} could not connect after {self.max_attempts} attempts: {_short(exc)}"
                    ) from None
                self._sleep(self._backoff(attempt))
                continue
            except requests.RequestException as exc:
                raise TransientError(f"{what} failed: {_short(exc)}") from None

            status = response.status_code
            if status < 400:
                return response
            text = api_error_text(response)
            if status not in RETRYABLE_STATUS:
                raise PermanentError(f"{what} failed with HTTP {status}: {text}", status_code=status)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 and retry_after is not None and retry_after > self.max_retry_after:
                # a long wait is the state machine's job, not the Lambda's
                raise ThrottledError(
                    f"{what} rate limited (HTTP 429): {text}; Retry-After {retry_after:.0f}s",
                    retry_after=retry_after,
                )
            if last:
                if status == 429:
                    raise ThrottledError(
                        f"{what} rate limited (HTTP 429) after {self.max_attempts} attempts: {text}",
                        retry_after=retry_after,
                    )
                raise TransientError(
                    f"{what} failed with HTTP {status} after {self.max_attempts} attempts: {text}", status_code=status
                )
            # Retry-After plus up to 20 % jitter: clients told the same moment do not all come back at once
            self._sleep(retry_after * (1 + RETRY_AFTER_JITTER * self._jitter()) if retry_after is not None
                        else self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

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


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
