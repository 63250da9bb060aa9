"""botocore ClientError -> domain error (throttling / transient / permanent)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from call_analytics.errors import PermanentError, ThrottledError, TransientError

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException", "SlowDown",
     "RequestLimitExceeded", "ProvisionedThroughputExceededException"}
)
TRANSIENT_CODES = frozenset(
    {"InternalError", "InternalServerError", "ServiceUnavailable", "RequestTimeout", "TransactionConflictException"}
)


#: a DynamoDB write whose ConditionExpression did not hold (an expected outcome, not a failure)
CONDITION_FAILED = "ConditionalCheckFailedException"

T = TypeVar("T")


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


def call_aws(call: Callable[[], T], what: str, *, expected: Collection[str] = ()) -> tuple[bool, T | None]:
    """Run one AWS SDK call: (True, its response), or (False, None) when it failed with one of the `expected`
    error codes (a normal outcome: a condition that did not hold, an execution that already exists). Any other
    failure is raised as the domain error `translate` gives (Step Functions retries match on those)."""
    try:
        return True, call()
    except ClientError as exc:
        if error_code(exc) in expected:
            return False, None
        raise translate(exc, what) from None
    except BotoCoreError as exc:
        raise translate(exc, what) from None
