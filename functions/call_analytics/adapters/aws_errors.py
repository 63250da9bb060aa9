"""botocore ClientError -> domain error (throttling / transient / permanent)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from call_analytics.errors import PermanentError, ThrottledError, TransientError

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException", "SlowDown",
     "RequestLimitExceeded", "ProvisionedThroughputExceededException"}
)
TRANSIENT_CODES = frozenset(
    {"InternalError", "InternalServerError", "ServiceUnavailable", "RequestTimeout", "TransactionConflictException"}
)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{what} failed: {type(exc).__name__}: {exc}")
    if not isinstance(exc, ClientError):
        return exc
    code = error_code(exc)
    message = f"{what} failed: {code}: {exc.response.get('Error', {}).get('Message', '')}"
    if code in THROTTLE_CODES:
        return ThrottledError(message, status_code=None)
    if code in TRANSIENT_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return TransientError(message)
    return PermanentError(message)
