"""Action items: JSON as requested, or the seeds' bullet-point text; owner/due_date null when not stated."""

from __future__ import annotations

import re
from typing import Any

from call_analytics.analyses.json_extract import JsonNotFound, extract_json
from call_analytics.analyses.validation import Validation, as_text

_BULLET = re.compile(r"^\s*(?:[-*•‣▪–]|\d{1,3}[.)]|\[[ xX]?\])\s+(.+?)\s*$")
_OWNER = re.compile(
    r"[(\[]?\b(?:owner|assignee|assigned to|responsible)\s*[:=-]\s*([^;,()\[\]]+?)\s*(?:[)\]]|[;,]|$)", re.I
)
_DUE = re.compile(r"[(\[]?\b(?:due(?: date)?|deadline|by when)\s*[:=-]\s*([^;,()\[\]]+?)\s*(?:[)\]]|[;,]|$)", re.I)
_NULLISH = {"", "null", "none", "n/a", "na", "not stated", "not specified", "unknown", "unspecified", "-", "tbd"}
_ITEM_KEYS = ("item", "action_item", "action", "task", "description", "text")
_DUE_KEYS = ("due_date", "due", "deadline")


def validate_action_items(raw: str) -> Validation:
    try:
        data = extract_json(raw)
    except JsonNotFound:
        return _from_bullets(raw or "")
    return validate_action_items_data(data)


def validate_action_items_data(data: Any) -> Validation:
    items = data.get("action_items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return Validation(None, errors=['action_items: expected an object with an "action_items" list'])
    issues: list[str] = []
    result = []
    for position, entry in enumerate(items):
        if isinstance(entry, str):
            entry = {"item": entry}
        if not isinstance(entry, dict):
            issues.append(f"action item {position + 1}: not an object; dropped")
            continue
        text = next((as_text(entry[k]) for k in _ITEM_KEYS if as_text(entry.get(k))), "")
        if not text:
            issues.append(f"action item {position + 1}: no text; dropped")
            continue
        due = next((entry[k] for k in _DUE_KEYS if k in entry), None)
        result.append({"item": text, "owner": _or_null(entry.get("owner")), "due_date": _or_null(due)})
    return Validation({"action_items": result}, issues=issues)


def _from_bullets(text: str) -> Validation:
    items = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        if not match:
            continue
        body = match.group(1).strip().strip("*").strip()
        owner = _OWNER.search(body)
        due = _DUE.search(body)
        for found in (owner, due):
            if found:
                body = body.replace(found.group(0), " ")
        body = re.sub(r"\s+", " ", body).strip(" -–;,")
        if body:
            items.append(
                {
                    "item": body,
                    "owner": _or_null(owner and owner.group(1)),
                    "due_date": _or_null(due and due.group(1)),
                }
            )
    if not items:
        return Validation(None, errors=["action_items: the answer is neither JSON nor a bullet-point list"])
    return Validation({"action_items": items}, issues=["action items parsed from bullet-point text"])


def _or_null(value: Any) -> str | None:
    text = as_text(value)
    return None if text.lower().strip(".") in _NULLISH else text
