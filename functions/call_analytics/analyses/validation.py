"""The result of validating one analysis answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Validation:
    result: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)  # fatal: trigger a repair request
    issues: list[str] = field(default_factory=list)  # fixed automatically, reported

    @property
    def valid(self) -> bool:
        return not self.errors and self.result is not None


@dataclass(frozen=True)
class TranscriptFacts:
    """What the validators need to know about the transcript."""

    duration: float | None  # seconds
    text: str  # plain transcript text (for quote checks)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()
