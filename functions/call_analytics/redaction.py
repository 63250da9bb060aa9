"""One home for keeping secrets out of everything the system stores, publishes or logs.

`redact(text)` scrubs from any text: the secret values registered with `register_secret` (the AssemblyAI API key,
registered by the AssemblyAI adapter whenever it uses it), `Authorization`/API-key header values, `Bearer` tokens
and key-looking query parameters (`api_key=`, `token=`, presigned-URL signatures, ...). Applied at every boundary:

* exceptions: the AssemblyAI adapter's errors (`scrub_exception`) and every Lambda handler (`redacted_errors`),
  so the Step Functions history (errorMessage/Cause) never carries a key;
* failure_reason / status history (record_failure.fail_call, start_call), SNS messages (notifications);
* logs: `install_log_redaction` makes the Powertools logger's formatter, and the root handlers, redact each line.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

MASK = "[REDACTED]"
#: shorter values are not registered: scrubbing them would mangle ordinary text (real keys are 32+ characters)
MIN_SECRET_CHARS = 6

_HEADER_NAMES = r"(?:proxy-)?authorization|x-api-key|api[-_ ]?key|x-webhook-secret|webhook_auth_header_value"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `Authorization: <v>`, `"authorization": "<v>"`, `api_key=<v>`, `'X-Api-Key': '<v>'` (a Bearer prefix kept)
    # (also JSON-escaped, as inside a JSON log line: `\"authorization\": \"<v>\"`)
    (re.compile(rf"""(?i)(\\?["']?\b(?:{_HEADER_NAMES})\\?["']?\s*[:=]\s*\\?["']?)(bearer\s+|basic\s+|token\s+)?"""
                r"""[^\s"'\\,;&}\]]+"""), rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1{MASK}"),
    # key-looking query parameters (also presigned S3 URLs' signature and credentials)
    (re.compile(r"(?i)([?&;](?:key|sig|auth)=)[^&\s\"'#]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b((?:api_?key|apikey|access_?token|auth_?token|token|secret|password|passwd|signature|"
                r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature)=)[^&\s\"'#]+"),
     rf"\1{MASK}"),
)

_secrets: set[str] = set()
#: the registered secrets longest first (a key containing another is masked whole); rebuilt on registration only,
#: since redact() runs for every log line
_secrets_by_length: tuple[str, ...] = ()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Scrub this value (and its trimmed form) from everything redacted from now on (process-wide)."""
    if not isinstance(value, str):
        return
    global _secrets_by_length
    for candidate in (value, value.strip()):
        if len(candidate) >= MIN_SECRET_CHARS and candidate not in _secrets:
            with _lock:
                _secrets.add(candidate)
                _secrets_by_length = tuple(sorted(_secrets, key=len, reverse=True))


def forget_secrets() -> None:
    """Tests: start from no registered secrets."""
    global _secrets_by_length
    with _lock:
        _secrets.clear()
        _secrets_by_length = ()


def redact(text: Any, secrets: Iterable[str | None] = ()) -> Any:
    """`text` with the secrets, auth header values, bearer tokens and key-looking query params masked.
    Non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    extra = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS]
    values = sorted({*_secrets_by_length, *extra}, key=len, reverse=True) if extra else _secrets_by_length
    for value in values:  # longest first: a key containing another is masked whole
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_obj(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted (a copy)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_obj(v, secrets) for v in value)
    return value


def scrub_exception(exc: BaseException, secrets: Iterable[str | None] = ()) -> BaseException:
    """Redact the exception's message in place (its class stays: Step Functions matches on the name), and the
    messages of the exceptions it was raised from. Returns it, so `raise scrub_exception(exc)` works."""
    secrets = tuple(secrets)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in current.args)
        except (AttributeError, TypeError):  # an exception type with read-only args
            pass
        current = current.__cause__ or current.__context__
    return exc


F = TypeVar("F", bound=Callable[..., Any])


def redacted_errors(fn: F) -> F:
    """Decorator for Lambda handlers: whatever escapes has its message redacted, so neither the Lambda's
    errorMessage nor the Step Functions history (Catch `Cause`, failure events) can carry a secret."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            scrub_exception(exc)
            raise

    return wrapper  # type: ignore[return-value]


class RedactingFilter(logging.Filter):
    """A handler filter for standard-library records: message, arguments, string extras and the formatted
    exception are redacted before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact(record.getMessage())
            record.args = ()
        except Exception:  # a broken %-format: leave it to logging's own error handling
            return True
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in ("msg", "levelname", "name", "pathname", "filename",
                                                       "module", "funcName", "processName", "threadName"):
                setattr(record, name, redact(value))
            elif isinstance(value, (dict, list)) and name not in ("args",):
                setattr(record, name, redact_obj(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _redacting_format(formatter: logging.Formatter) -> None:
    if getattr(formatter, "_redacting", False):
        return
    original = formatter.format

    def format(record: logging.LogRecord) -> str:
        return redact(original(record))

    formatter.format = format  # type: ignore[method-assign]
    formatter._redacting = True  # type: ignore[attr-defined]


def install_log_redaction(powertools_logger: Any | None = None) -> None:
    """Every line the Powertools logger writes, and every record the root logger's handlers emit (the adapters'
    standard-library loggers propagate there), is redacted. Idempotent."""
    if powertools_logger is not None:
        formatter = getattr(powertools_logger, "registered_formatter", None)
        if isinstance(formatter, logging.Formatter):
            _redacting_format(formatter)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
