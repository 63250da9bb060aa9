"""Profile lookup: `s3://RECORDINGS_BUCKET/PROFILES_PREFIX<name>.json` overrides the bundled `<name>.json`.

Per upload the profile is chosen by object metadata `profile`, else a key segment `profile=<name>`,
else DEFAULT_PROFILE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from call_analytics.errors import InvalidProfile
from call_analytics.profiles.model import PROFILE_NAME, Profile, parse_profile

BUNDLED_DIR = Path(__file__).resolve().parent


def bundled_profile_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.json"))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not PROFILE_NAME.match(name):
        raise InvalidProfile(
            f"invalid profile name {name!r}: use letters, digits, '.', '_' or '-' (at most 64 characters)"
        )
    return name


def choose_profile_name(key: str, metadata: dict[str, str] | None, default: str) -> str:
    """Metadata `profile` wins, then a `profile=<name>` path segment, then the default."""
    from_metadata = (metadata or {}).get("profile")
    if from_metadata and from_metadata.strip():
        return check_name(from_metadata.strip())
    for segment in key.split("/")[:-1]:
        if segment.startswith("profile="):
            return check_name(segment.removeprefix("profile="))
    return check_name(default)


def load_bundled(name: str) -> Profile | None:
    path = BUNDLED_DIR / f"{check_name(name)}.json"
    if not path.is_file():
        return None
    return _parse_text(path.read_text(encoding="utf-8"), source=f"bundled {path.name}", name=name)


class ProfileLoader:
    """Loads by name; `store` is a ResultsStore (or a fake with get_bytes raising ObjectMissing)."""

    def __init__(self, store: Any, bucket: str, prefix: str):
        self.store = store
        self.bucket = bucket
        self.prefix = prefix

    def load(self, name: str) -> Profile:
        from call_analytics.adapters.results_store import ObjectMissing

        check_name(name)
        key = f"{self.prefix}{name}.json"
        try:
            raw = self.store.get_bytes(self.bucket, key)
        except ObjectMissing:
            raw = None
        if raw is not None:
            return _parse_text(raw.decode("utf-8", errors="replace"), source=f"s3://{self.bucket}/{key}", name=name)
        profile = load_bundled(name)
        if profile is None:
            known = ", ".join(bundled_profile_names())
            raise InvalidProfile(
                f"unknown profile {name!r}: no s3://{self.bucket}/{key} and no bundled profile (bundled: {known})"
            )
        return profile


def profile_from_snapshot(data: dict[str, Any]) -> Profile:
    return parse_profile(data, source="snapshot")


def _parse_text(text: str, *, source: str, name: str) -> Profile:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidProfile(f"profile {source} is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        data.setdefault("name", name)
        if data["name"] != name:
            raise InvalidProfile(f"profile {source} declares name {data['name']!r}, expected {name!r}")
    return parse_profile(data, source=source)
