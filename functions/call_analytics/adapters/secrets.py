"""The AssemblyAI API key from Secrets Manager (Powertools parameters: cached, max_age 300 s). Never logged."""

from __future__ import annotations

import json

from call_analytics.errors import PermanentError

SECRET_MAX_AGE_SECONDS = 300


def api_key_from_secret_string(secret: str) -> str:
    """The secret is either the raw key or JSON `{"api_key": "..."}`."""
    value = (secret or "").strip()
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise PermanentError("AssemblyAI secret looks like JSON but does not parse") from None
        key = parsed.get("api_key") if isinstance(parsed, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise PermanentError('AssemblyAI secret JSON has no non-empty "api_key"')
        return key.strip()
    if not value:
        raise PermanentError("AssemblyAI secret is empty")
    return value


def load_api_key(secret_arn: str) -> str:
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from call_analytics.errors import TransientError

    try:
        secret = get_secret(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        text = str(exc)
        if any(code in text for code in ("ResourceNotFound", "AccessDenied", "InvalidRequest", "DecryptionFailure")):
            raise PermanentError(f"cannot read the AssemblyAI secret: {text[:300]}") from None
        raise TransientError(f"cannot read the AssemblyAI secret: {text[:300]}") from None
    return api_key_from_secret_string(secret if isinstance(secret, str) else secret.decode())


def load_webhook_secret(secret_arn: str) -> str:
    """completion_webhook: the shared secret AssemblyAI sends back in the webhook's auth header (raw string)."""
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from call_analytics.errors import TransientError

    try:
        secret = get_secret(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise TransientError(f"cannot read the webhook secret: {str(exc)[:300]}") from None
    value = (secret if isinstance(secret, str) else secret.decode()).strip()
    if not value:
        raise PermanentError("the webhook secret is empty")
    return value
