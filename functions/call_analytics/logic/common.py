"""Small helpers shared by the use cases: time, result keys, the per-call profile snapshot, failure text."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # profiles build pydantic models: only the handlers that need them pay for the import
    from call_analytics.profiles.loader import ProfileLoader
    from call_analytics.profiles.model import Profile

MAX_REASON_CHARS = 1000
#: DynamoDB items hold a result inline below this size; above it only in S3 (the item limit is 400 KB)
INLINE_LIMIT_BYTES = 100_000


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def results_prefix(prefix: str, call_id: str) -> str:
    return f"{prefix}{call_id}/"


def result_key(prefix: str, call_id: str, name: str) -> str:
    """results/<call_id>/<name> (transcript.json, captions.vtt, <analysis>.json, profile.json)."""
    return f"{prefix}{call_id}/{name}"


def save_profile_snapshot(store: Any, bucket: str, prefix: str, call_id: str, profile: Profile) -> str:
    """The profile as it was when the call started: later steps use it, so an edit mid-call changes nothing."""
    key = result_key(prefix, call_id, "profile.json")
    store.put_json(bucket, key, profile.model_dump(mode="json"))
    return key


def load_call_profile(store: Any, loader: ProfileLoader, bucket: str, prefix: str, call_id: str, name: str) -> Profile:
    from call_analytics.adapters.results_store import ObjectMissing
    from call_analytics.profiles.loader import profile_from_snapshot

    try:
        return profile_from_snapshot(store.get_json(bucket, result_key(prefix, call_id, "profile.json")))
    except ObjectMissing:
        return loader.load(name)


def failure_reason(error_name: str | None, cause: str | None) -> str:
    """`Error: message`; a Lambda Cause is JSON with errorMessage, other causes are plain text."""
    name = error_name or "States.Unknown"
    message = (cause or "").strip()
    if message.startswith("{"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or parsed.get("cause") or parsed.get("message") or message)
    text = f"{name}: {message}" if message else name
    return text[:MAX_REASON_CHARS]
