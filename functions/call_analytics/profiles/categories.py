"""Category rules of a profile: named rule trees that mark a call (docs/data-model.md "Categories").

A rule is one JSON object with exactly one of these keys:

    {"all": [rule, ...]}            every child matches
    {"any": [rule, ...]}            at least one child matches
    {"not": rule}                   the child does not match
    {"phrases": [...], "role": "customer", "window": {"first_seconds": 60}}
                                    one of the phrases is said (by that role, in that window)
    {"metric": "non_talk_share", "gte": 0.3}, {"metric": "interruptions", "role": "agent", "gte": 3}
                                    a conversation metric (conversation/metrics.py METRIC_NAMES; the per-role
                                    ones with `role`) against a threshold
    {"sentiment": "negative", "role": "customer", "quarter": 4}
                                    that role's sentiment in that quarter of the call (needs
                                    transcription.sentiment_analysis)
    {"question": "Did the customer ask for a supervisor?", "answer": "yes"}
                                    a yes/no question the LLM answers inside the call's existing request

Validation rejects a bad rule with a message naming the category and the path to the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: names a subscriber can filter on (SNS attribute `categories`) and a metric dimension: keep them plain
CATEGORY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: the comparisons a metric rule may use, and what each means
COMPARISONS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
               "lte": lambda a, b: a <= b}
SENTIMENT_LABELS = ("positive", "neutral", "negative")
#: a category rule tree deeper than this is almost certainly a mistake (and bounds evaluation)
MAX_RULE_DEPTH = 8


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Window(_Rule):
    first_seconds: float | None = Field(None, gt=0)
    last_seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Window:
        if (self.first_seconds is None) == (self.last_seconds is None):
            raise ValueError("a window has exactly one of first_seconds or last_seconds")
        return self


class PhraseRule(_Rule):
    phrases: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    role: str | None = None
    window: Window | None = None  # None: the whole call


class MetricRule(_Rule):
    metric: str
    role: str | None = None  # required by the per-role metrics, refused by the call-level ones
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _known_metric(self) -> MetricRule:
        from call_analytics.conversation.metrics import METRIC_NAMES, ROLE_METRICS  # the catalogue lives there

        if self.metric not in METRIC_NAMES:
            raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(sorted(METRIC_NAMES))}")
        if (self.metric in ROLE_METRICS) != (self.role is not None):
            raise ValueError(f"metric {self.metric!r} " + ("needs a role" if self.metric in ROLE_METRICS
                                                            else "is about the whole call: no role"))
        if len(self.comparisons()) != 1:
            raise ValueError("a metric rule has exactly one of gt, gte, lt, lte")
        return self

    def comparisons(self) -> dict[str, float]:
        return {op: value for op in COMPARISONS if (value := getattr(self, op)) is not None}


class SentimentRule(_Rule):
    sentiment: Literal["positive", "neutral", "negative"]
    role: str
    quarter: Literal[1, 2, 3, 4] | None = None  # None: the whole call


class QuestionRule(_Rule):
    question: str = Field(min_length=5, max_length=300)
    answer: Literal["yes", "no"] = "yes"


class AllRule(_Rule):
    all: list[Any] = Field(min_length=1)  # parsed rules (_parse_tree)


class AnyRule(_Rule):
    any: list[Any] = Field(min_length=1)


class NotRule(_Rule):
    not_: Any


AnyRuleNode = AllRule | AnyRule | NotRule | PhraseRule | MetricRule | SentimentRule | QuestionRule
_KINDS: dict[str, type[_Rule]] = {"all": AllRule, "any": AnyRule, "not": NotRule, "phrases": PhraseRule,
                                  "metric": MetricRule, "sentiment": SentimentRule, "question": QuestionRule}


class Category(_Rule):
    name: str
    description: str = ""
    rule: Any

    @model_validator(mode="before")
    @classmethod
    def _rule_tree(cls, data: Any) -> Any:
        if isinstance(data, dict) and "rule" in data:
            try:
                data = {**data, "rule": _parse_tree(data["rule"], path="rule", depth=1)}
            except ValueError as exc:
                raise ValueError(f"category {data.get('name')!r}: {exc}") from None
        return data

    @model_validator(mode="after")
    def _plain_name(self) -> Category:
        if not CATEGORY_NAME.match(self.name):
            raise ValueError(f"category name {self.name!r}: lower-case letters, digits, '_' or '-', at most 64")
        return self


def _parse_tree(value: Any, *, path: str, depth: int) -> _Rule:
    if depth > MAX_RULE_DEPTH:
        raise ValueError(f"{path}: rules nest at most {MAX_RULE_DEPTH} deep")
    if not isinstance(value, dict):
        raise ValueError(f"{path}: a rule is a JSON object, got {type(value).__name__}")
    kinds = [k for k in _KINDS if k in value]
    if len(kinds) != 1:
        raise ValueError(f"{path}: a rule has exactly one of {', '.join(_KINDS)}; got keys {sorted(value)}")
    kind = kinds[0]
    if kind in ("all", "any"):
        children = value[kind]
        extra = sorted(set(value) - {kind})
        if extra:
            raise ValueError(f"{path}: unexpected keys {extra} next to {kind!r}")
        if not isinstance(children, list) or not children:
            raise ValueError(f"{path}.{kind}: a non-empty list of rules")
        parsed = [_parse_tree(c, path=f"{path}.{kind}[{i}]", depth=depth + 1) for i, c in enumerate(children)]
        return _KINDS[kind].model_construct(**{kind: parsed})
    if kind == "not":
        extra = sorted(set(value) - {"not"})
        if extra:
            raise ValueError(f"{path}: unexpected keys {extra} next to 'not'")
        return NotRule.model_construct(not_=_parse_tree(value["not"], path=f"{path}.not", depth=depth + 1))
    try:
        return _KINDS[kind].model_validate(value)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or kind}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path} ({kind} rule): {detail}") from None


def walk(rule: _Rule) -> Iterator[_Rule]:
    """Every rule of a tree, parents first."""
    yield rule
    if isinstance(rule, AllRule):
        for child in rule.all:
            yield from walk(child)
    elif isinstance(rule, AnyRule):
        for child in rule.any:
            yield from walk(child)
    elif isinstance(rule, NotRule):
        yield from walk(rule.not_)


def questions_of(categories: list[Category]) -> list[str]:
    """The yes/no questions the LLM answers for these categories, in order, once each."""
    seen: list[str] = []
    for category in categories:
        for rule in walk(category.rule):
            if isinstance(rule, QuestionRule) and rule.question not in seen:
                seen.append(rule.question)
    return seen


def roles_of(categories: list[Category]) -> set[str]:
    return {rule.role for c in categories for rule in walk(c.rule)
            if isinstance(rule, PhraseRule | SentimentRule | MetricRule) and rule.role}


def uses_sentiment(category: Category) -> bool:
    return any(isinstance(rule, SentimentRule) for rule in walk(category.rule))
