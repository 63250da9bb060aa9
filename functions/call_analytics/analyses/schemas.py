"""response_format JSON schemas; names and shapes are the contract with the local server (architecture.md)."""

from __future__ import annotations

from typing import Any

SCHEMA_NAMES = {
    "phases": "call_phases",
    "sentiment": "call_sentiment",
    "action_items": "call_action_items",
    "combined": "call_analysis",
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def phases_property(phase_names: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _object(
            {
                "name": {"type": "string", "enum": list(phase_names)},
                "start_time": {"type": "number", "description": "seconds from the start of the call"},
                "end_time": {"type": "number", "description": "seconds from the start of the call"},
                "summary": {"type": "string"},
            }
        ),
    }


def answers_property(questions: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _object(
            {
                "question": {"type": "string", "enum": list(questions)},
                "answer": {"type": "string"},
                "reason": {"type": "string"},
                "quote": {"type": "string", "description": "verbatim words from the transcript"},
            }
        ),
    }


def action_items_property() -> dict[str, Any]:
    return {
        "type": "array",
        "items": _object(
            {
                "item": {"type": "string"},
                "owner": {"type": ["string", "null"]},
                "due_date": {"type": ["string", "null"]},
            }
        ),
    }


#: yes/no questions of the profile's categories (profiles/model.py `llm_question` rules), answered in the same request
CHECK_ANSWERS = ("yes", "no")


def checks_property(questions: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _object(
            {
                "question": {"type": "string", "enum": list(questions)},
                "answer": {"type": "string", "enum": list(CHECK_ANSWERS)},
                "quote": {"type": "string", "description": "verbatim words from the transcript, empty if none"},
            }
        ),
    }


def phases_schema(phase_names: list[str]) -> dict[str, Any]:
    return _object({"phases": phases_property(phase_names)})


def sentiment_schema(questions: list[str], checks: list[str] | None = None) -> dict[str, Any]:
    properties = {"answers": answers_property(questions)}
    if checks:
        properties["checks"] = checks_property(checks)
    return _object(properties)


def action_items_schema() -> dict[str, Any]:
    return _object({"action_items": action_items_property()})


def combined_schema(phase_names: list[str] | None, questions: list[str] | None, action_items: bool,
                    checks: list[str] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if phase_names:
        properties["phases"] = phases_property(phase_names)
    if questions:
        properties["answers"] = answers_property(questions)
    if action_items:
        properties["action_items"] = action_items_property()
    if checks:
        properties["checks"] = checks_property(checks)
    return _object(properties)


def response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
