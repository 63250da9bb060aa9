"""Offline analyzers: compute the project's structured analyses from a transcript with no LLM.

`OfflineAnalyzer.answer()` recognises the structured requests by `response_format.json_schema.name`
(docs/architecture.md, "LLM structured requests") and returns the JSON answer as a string; any other
request gets a labelled extractive answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..text_encoder import MiniLMEncoder, shared_encoder
from ..transcript_parse import Line, parse_transcript
from .action_items import extract_action_items
from .common import schema_enum
from .extractive import LABEL, extractive_answer, summarize_text
from .phases import analyze_phases
from .sentiment import analyze_sentiment

STRUCTURED_NAMES = ("call_phases", "call_sentiment", "call_action_items", "call_analysis")
DEFAULT_PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]

__all__ = [
    "LABEL",
    "STRUCTURED_NAMES",
    "AnalysisInput",
    "OfflineAnalyzer",
    "analyze_phases",
    "analyze_sentiment",
    "extract_action_items",
    "summarize_text",
]


@dataclass
class AnalysisInput:
    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None = None
    stored_lines: list[Line] = field(default_factory=list)   # the transcript_id's utterances, if any
    substituted_text: str | None = None                      # text injected for {{ transcript }}


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class OfflineAnalyzer:
    def __init__(self, encoder: MiniLMEncoder | None = None) -> None:
        self._encoder = encoder

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def lines_for(self, inp: AnalysisInput) -> list[Line]:
        text = "\n".join(message_text(m) for m in inp.messages if m.get("role") in ("user", "system", None))
        return parse_transcript(text) or inp.stored_lines

    def answer(self, inp: AnalysisInput) -> str:
        rf = inp.response_format or {}
        js = rf.get("json_schema") if isinstance(rf, dict) else None
        name = js.get("name") if isinstance(js, dict) else None
        schema = js.get("schema", {}) if isinstance(js, dict) else {}
        lines = self.lines_for(inp)
        if name in STRUCTURED_NAMES:
            return json.dumps(self.structured(name, schema or {}, lines), ensure_ascii=False)
        instruction = self._instruction(inp)
        return extractive_answer(instruction, lines, self.encoder)

    def structured(self, name: str, schema: dict, lines: list[Line]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if name in ("call_phases", "call_analysis"):
            phases = schema_enum(schema, ["phases", "name"]) or DEFAULT_PHASES
            result["phases"] = analyze_phases(lines, phases, self.encoder)
        if name in ("call_sentiment", "call_analysis"):
            questions = schema_enum(schema, ["answers", "question"])
            result["answers"] = analyze_sentiment(lines, questions, self.encoder)
        if name in ("call_action_items", "call_analysis"):
            result["action_items"] = extract_action_items(lines)
        return result

    @staticmethod
    def _instruction(inp: AnalysisInput) -> str:
        """The user's request without the transcript in it (what the extractive answer ranks against)."""
        users = [message_text(m) for m in inp.messages if m.get("role") == "user"]
        text = users[-1] if users else ""
        if inp.substituted_text:
            text = text.replace(inp.substituted_text, " ")
        text = re.sub(r"(?ms)^WEBVTT.*", " ", text)
        text = re.sub(r"(?m)^\s*\[\d+(?:\.\d+)?\s*-\s*\d+(?:\.\d+)?\].*$", " ", text)
        return text.strip()[:2000]
