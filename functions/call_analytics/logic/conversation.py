"""Roles, conversation metrics and categories of one call, as stored items (docs/data-model.md).

fetch_transcript assigns the roles (record field `roles`) and stores the `metrics` item; finalize_call evaluates
the categories (item `categories`, record field `categories`) once the LLM answered the categories' questions
(`checks` item); `callctl redrive --recompute` runs both again on a stored transcript with the current profile.
Metrics and categories are computed, not LLM answers: they never make a call PARTIAL (COMPUTED_ITEMS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from call_analytics.conversation.categories import CallFacts, evaluate_categories
from call_analytics.conversation.metrics import conversation_metrics, words_of
from call_analytics.conversation.roles import ROLE_OVERRIDE_FIELD, RoleMap, assign_roles
from call_analytics.logic.common import INLINE_LIMIT_BYTES, result_key
from call_analytics.observability import MetricUnit, metrics
from call_analytics.profiles.model import Profile
from call_analytics.transcript_facts import effective_duration

METRICS_ITEM = "metrics"
CATEGORIES_ITEM = "categories"
CHECKS_ITEM = "checks"
#: analysis items computed from the transcript, not answered by the LLM
COMPUTED_ITEMS = (METRICS_ITEM, CATEGORIES_ITEM)


def call_roles(transcript: dict[str, Any], profile: Profile, record: dict[str, Any] | None) -> RoleMap:
    override = (record or {}).get(ROLE_OVERRIDE_FIELD) or None
    return assign_roles(transcript, profile.roles, override)


def stored_roles(record: dict[str, Any] | None) -> RoleMap | None:
    return RoleMap.from_record((record or {}).get("roles"))


def store_metrics(transcript: dict[str, Any], profile: Profile, roles: RoleMap, *, store: Any, calls: Any,
                  bucket: str, prefix: str, call_id: str) -> dict[str, Any]:
    result = conversation_metrics(transcript, roles, profile.metrics)
    _put_item(METRICS_ITEM, result, store=store, calls=calls, bucket=bucket, prefix=prefix, call_id=call_id)
    return result


def check_answers(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_name = {i.get("analysis"): i for i in items}
    checks = ((by_name.get(CHECKS_ITEM) or {}).get("result") or {}).get("checks") or []
    return {c["question"]: c for c in checks if isinstance(c, dict) and c.get("question")}


@dataclass(frozen=True)
class CategoryOutcome:
    matched: list[str]
    results: list[dict[str, Any]]


def store_categories(transcript: dict[str, Any], profile: Profile, roles: RoleMap, metrics_result: dict[str, Any],
                     answers: dict[str, dict[str, Any]], *, store: Any, calls: Any, bucket: str, prefix: str,
                     call_id: str, count: bool = True) -> CategoryOutcome:
    facts = CallFacts(words=words_of(transcript), roles=roles, metrics=metrics_result, answers=answers,
                      duration=effective_duration(transcript) or 0.0)
    results = evaluate_categories(profile.categories, facts)
    matched = [r["name"] for r in results if r["matched"]]
    _put_item(CATEGORIES_ITEM, {"matched": matched, "categories": results}, store=store, calls=calls,
              bucket=bucket, prefix=prefix, call_id=call_id)
    calls.update_fields(call_id, {"categories": matched})
    if count:
        for name in matched:
            _count_category(name)
    return CategoryOutcome(matched=matched, results=results)


def _count_category(name: str) -> None:
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name="CategoryMatched", unit=MetricUnit.Count, value=1,
                       namespace=metrics.namespace) as metric:
        metric.add_dimension(name="category", value=name)


def _put_item(name: str, result: dict[str, Any], *, store: Any, calls: Any, bucket: str, prefix: str,
              call_id: str) -> None:
    key = result_key(prefix, call_id, f"{name}.json")
    store.put_json(bucket, key, {"analysis": name, "result": result, "valid": True, "computed": True})
    item: dict[str, Any] = {"valid": True, "computed": True, "errors": [], "issues": [], "result_key": key}
    if len(json.dumps(result).encode()) <= INLINE_LIMIT_BYTES:
        item["result"] = result
    calls.put_analysis(call_id, name, item)
