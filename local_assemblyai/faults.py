"""Fault injection, chosen by configuration (`faults` in the config file or POST /_local/faults).

A plan is a list of rules. Each rule names an endpoint group, an action and a trigger:

    {"group": "transcript", "action": "429", "next_n": 2, "retry_after": 3}
    {"group": "llm", "action": "5xx", "status": 503, "every_nth": 3}
    {"group": "upload", "action": "latency", "latency_ms": 800, "probability": 0.5, "seed": 1}
    {"group": "transcript", "action": "drop", "next_n": 1, "method": "GET"}
    {"group": "jobs", "action": "job_error", "next_n": 1, "message": "Internal error while transcribing"}
    {"group": "streaming", "action": "ws_close", "close_code": 3005, "after_seconds": 1.5, "next_n": 1}
    {"group": "streaming", "action": "ws_drop", "after_seconds": 2.0, "next_n": 1}
    {"group": "llm", "action": "garbage", "every_nth": 4}
    {"group": "transcript", "action": "drop", "stage": "response", "method": "POST", "next_n": 1}

groups: upload | transcript (all /v2/transcript…) | llm (/v1/…) | token (/v3/token) | streaming (/v3/ws
sessions) | jobs (transcription jobs) | any (every HTTP group).
actions: latency | 429 | 5xx | drop (connection closed without a response) | job_error | ws_close
(Error message + close frame) | ws_drop (the TCP connection is aborted: no Error, no close frame) |
garbage / truncated / refusal (group llm: a 200 chat completion whose content is random non-JSON text / the
real answer cut mid-way with finish_reason "length" / a model refusal).
stage (HTTP actions): request (default: before the request body is read) | response (after the request was
handled: the job is created, the LLM answer computed; then the response is delayed, replaced or dropped, so
"the POST went through but the answer was lost" can be exercised).
triggers (at most one; none = every matching event): next_n (the next N matches), every_nth (the
Nth, 2Nth, … match), probability (+ seed, deterministic). Optional filters: method, path_contains.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("upload", "transcript", "llm", "token", "streaming", "jobs", "any")
ACTIONS = ("latency", "429", "5xx", "drop", "job_error", "ws_close", "ws_drop", "garbage", "truncated", "refusal")
WS_ACTIONS = ("ws_close", "ws_drop")
HTTP_ACTIONS = ("latency", "429", "5xx", "drop")
#: LLM answers that arrive (200, well-formed envelope) but are not what was asked
CONTENT_ACTIONS = ("garbage", "truncated", "refusal")
STAGES = ("request", "response")
DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."
_GARBAGE_WORDS = ("lorem", "ipsum", "banana", "quantum", "teapot", "seventeen", "purple", "static", "noise",
                  "meanwhile", "gravel", "orbit", "kettle", "ocean", "syntax", "weasel", "tangent", "umbrella")
_RULE_KEYS = {"id", "group", "action", "next_n", "every_nth", "probability", "seed", "latency_ms", "retry_after",
              "status", "message", "close_code", "reason", "after_seconds", "method", "path_contains", "stage"}


class FaultConfigError(ValueError):
    pass


@dataclass
class FaultRule:
    group: str
    action: str
    id: str | None = None
    next_n: int | None = None
    every_nth: int | None = None
    probability: float | None = None
    seed: int | None = None
    latency_ms: int = 0
    retry_after: int = 1
    status: int = 500
    message: str | None = None
    close_code: int = 3005
    reason: str | None = None
    after_seconds: float = 0.0
    method: str | None = None
    path_contains: str | None = None
    stage: str = "request"
    matched: int = 0
    fired: int = 0
    _rng: random.Random | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultConfigError("each fault rule must be an object")
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise FaultConfigError(f"unknown fault rule key(s): {', '.join(sorted(unknown))}")
        rule = cls(**{k: v for k, v in raw.items()})
        if rule.group not in GROUPS:
            raise FaultConfigError(f"fault group must be one of {', '.join(GROUPS)}")
        if rule.action not in ACTIONS:
            raise FaultConfigError(f"fault action must be one of {', '.join(ACTIONS)}")
        if sum(x is not None for x in (rule.next_n, rule.every_nth, rule.probability)) > 1:
            raise FaultConfigError("use at most one of next_n, every_nth, probability")
        if rule.action == "5xx" and not 500 <= int(rule.status) <= 599:
            raise FaultConfigError("5xx status must be 500-599")
        if rule.action == "job_error" and rule.group != "jobs":
            raise FaultConfigError("job_error rules use group 'jobs'")
        if rule.action in CONTENT_ACTIONS and rule.group != "llm":
            raise FaultConfigError(f"{rule.action} rules use group 'llm'")
        if rule.stage not in STAGES:
            raise FaultConfigError(f"stage must be one of {', '.join(STAGES)}")
        if rule.stage != "request" and rule.action not in HTTP_ACTIONS:
            raise FaultConfigError(f"stage applies to {', '.join(HTTP_ACTIONS)} rules only")
        if rule.action in WS_ACTIONS:
            if rule.group != "streaming":
                raise FaultConfigError(f"{rule.action} rules use group 'streaming'")
            if not isinstance(rule.after_seconds, int | float) or rule.after_seconds < 0:
                raise FaultConfigError("after_seconds must be a number >= 0")
        rule._rng = random.Random(rule.seed)  # probability triggers and garbage text (deterministic with a seed)
        return rule

    def exhausted(self) -> bool:
        return self.next_n is not None and self.fired >= self.next_n

    def _trigger(self) -> bool:
        self.matched += 1
        if self.next_n is not None:
            return self.fired < self.next_n
        if self.every_nth is not None:
            return self.matched % max(1, int(self.every_nth)) == 0
        if self.probability is not None:
            return self.rng.random() < float(self.probability)
        return True

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and v is not None}
        d["exhausted"] = self.exhausted()
        return d


class FaultPlan:
    """Thread-safe list of rules; `match()` decides which rules fire for one event."""

    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.replace(rules or [])

    def replace(self, rules: list[dict[str, Any]]) -> None:
        parsed = [FaultRule.parse(r) for r in rules]
        with self._lock:
            self._rules = parsed

    def add(self, rules: list[dict[str, Any]]) -> None:
        parsed = [FaultRule.parse(r) for r in rules]
        with self._lock:
            self._rules.extend(parsed)

    def to_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def match(self, group: str, method: str = "", path: str = "", actions: tuple[str, ...] = ACTIONS,
              stage: str | None = None, limit: int | None = None) -> list[FaultRule]:
        """Rules that fire for one event; with `stage`, only the HTTP rules of that stage are considered; with
        `limit`, later rules are not even counted once that many fired (one content fault per answer)."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if rule.action not in actions or rule.exhausted():
                    continue
                if stage is not None and rule.stage != stage:
                    continue
                if rule.group != group and not (rule.group == "any" and group in ("upload", "transcript", "llm",
                                                                                 "token")):
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if rule.path_contains and rule.path_contains not in path:
                    continue
                if limit is not None and len(fired) >= limit:
                    break
                if rule._trigger():
                    rule.fired += 1
                    fired.append(rule)
        return fired


def garbage_text(rng: random.Random, words: int = 24) -> str:
    """Plausible-looking prose that is not JSON (starts with a letter, no braces)."""
    text = " ".join(rng.choice(_GARBAGE_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def truncated_text(content: str) -> str:
    """The answer cut about half-way, never at a point where it still parses as JSON."""
    if len(content) < 4:
        return '{"' if not content.startswith("{") else content[:1]
    cut = content[: max(1, len(content) // 2)]
    while cut:
        try:
            json.loads(cut)
        except ValueError:
            return cut
        cut = cut[:-1]
    return '{"'
