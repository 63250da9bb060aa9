"""Find the JSON value in an LLM answer: bare JSON, ```json fences, leading/trailing prose, trailing commas."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_decoder = json.JSONDecoder()
_MAX_START_POSITIONS = 64  # bounds the work on long, bracket-heavy prose


class JsonNotFound(ValueError):
    """No JSON object or array could be read from the text."""


def _loads_lenient(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", text))


def _first_value(text: str) -> Any:
    """The JSON object/array that starts earliest at a `{` or `[` (tolerates prose around it)."""
    for attempt, match in enumerate(re.finditer(r"[\[{]", text)):
        if attempt >= _MAX_START_POSITIONS:
            break
        tail = text[match.start():]
        for candidate in (tail, _TRAILING_COMMA.sub(r"\1", tail)):
            try:
                value, _ = _decoder.raw_decode(candidate)
            except ValueError:
                continue
            if isinstance(value, (dict, list)) and value:
                return value
    raise JsonNotFound("no JSON object found in the answer")


def extract_json(text: str | None) -> Any:
    if text is None or not str(text).strip():
        raise JsonNotFound("the answer is empty")
    text = str(text).strip().lstrip("\ufeff")
    try:
        return _loads_lenient(text)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return _loads_lenient(block.strip())
        except ValueError:
            continue
    return _first_value(text)
