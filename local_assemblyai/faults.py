"""Fault injection, chosen by configuration (`faults` in the config file or POST /_local/faults).

A plan is a list of rules. Each rule names an endpoint group, an action and a trigger:

    {"group": "transcript", "action": "429", "next_n": 2, "retry_after": 3}
    {"group": "llm", "action": "5xx", "status": 503, "every_nth": 3}
    {"group": "upload", "action": "latency", "latency_ms": 800, "probability": 0.5, "seed": 1}
    {"group": "transcript", "action": "drop", "next_n": 1, "method": "GET"}
    {"group": "jobs", "action": "job_error", "next_n": 1, "message": "Internal error while transcribing"}
    {"group": "streaming", "action": "ws_close", "close_code": 3005, "after_seconds": 1.5, "next_n": 1}
    {"group": "streaming", "action": "ws_drop", "after_seconds": 2.0, "next_n": 1}

groups: upload | transcript (all /v2/transcript…) | llm (/v1/…) | token (/v3/token) | streaming (/v3/ws
sessions) | jobs (transcription jobs) | any (every HTTP group).
actions: latency | 429 | 5xx | drop (connection closed without a response) | job_error | ws_close
(Error message + close frame) | ws_drop (the TCP connection is aborted: no Error, no close frame).
triggers (at most one; none = every matching event): next_n (the next N matches), every_nth (the
Nth, 2Nth, … match), probability (+ seed, deterministic). Optional filters: method, path_contains.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("upload", "transcript", "llm", "token", "streaming", "jobs", "any")
ACTIONS = ("latency", "429", "5xx", "drop", "job_error", "ws_close", "ws_drop")
WS_ACTIONS = ("ws_close", "ws_drop")
HTTP_ACTIONS = ("latency", "429", "5xx", "drop")
_RULE_KEYS = {"id", "group", "action", "next_n", "every_nth", "probability", "seed", "latency_ms", "retry_after",
              "status", "message", "close_code", "reason", "after_seconds", "method", "path_contains"}


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
        if rule.action in WS_ACTIONS:
            if rule.group != "streaming":
                raise FaultConfigError(f"{rule.action} rules use group 'streaming'")
            if not isinstance(rule.after_seconds, int | float) or rule.after_seconds < 0:
                raise FaultConfigError("after_seconds must be a number >= 0")
        if rule.probability is not None:
            rule._rng = random.Random(rule.seed)
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
            assert self._rng is not None
            return self._rng.random() < float(self.probability)
        return True

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

    def match(self, group: str, method: str = "", path: str = "", actions: tuple[str, ...] = ACTIONS
              ) -> list[FaultRule]:
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if rule.action not in actions or rule.exhausted():
                    continue
                if rule.group != group and not (rule.group == "any" and group in ("upload", "transcript", "llm",
                                                                                 "token")):
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if rule.path_contains and rule.path_contains not in path:
                    continue
                if rule._trigger():
                    rule.fired += 1
                    fired.append(rule)
        return fired
