"""Offline analyzers: answer LLM Gateway requests from the transcript with no LLM.

`OfflineAnalyzer.answer()`:
* structured requests, recognised by `response_format.json_schema.name` (docs/architecture.md, "LLM
  structured requests"): the JSON object of the schema (only the keys the schema has, for `call_analysis`);
* free-form prompts, recognised by what they ask for (prompt_kinds.py): phases as the JSON the prompt's own
  example shows, one answer per question in its answer format, bulleted action items, a short summary
  (of a transcript or a streaming turn);
* anything else: a labelled extractive answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..text_encoder import MiniLMEncoder, shared_encoder
from ..transcript_parse import Line, parse_transcript
from .action_items import extract_action_items, find_commitments, format_bullets
from .common import schema_enum
from .extractive import LABEL, extractive_answer, summarize_text
from .phases import analyze_phases
from .prompt_kinds import PromptKind, Question, classify, is_yes_no, parse_questions
from .questions import answer as answer_question
from .questions import yes_no
from .sentiment import analyze_sentiment
from .summary import summarize_call, summarize_segment, summarize_turn

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

    def answer(self, inp: AnalysisInput, turn_text: str | None = None) -> str:
        rf = inp.response_format or {}
        js = rf.get("json_schema") if isinstance(rf, dict) else None
        name = js.get("name") if isinstance(js, dict) else None
        schema = js.get("schema", {}) if isinstance(js, dict) else {}
        instruction = self._instruction(inp, turn_text)
        if name in STRUCTURED_NAMES:
            lines = self.lines_for(inp)
            return json.dumps(self.structured(name, schema or {}, lines, instruction), ensure_ascii=False)
        kind = classify(instruction)
        if turn_text is not None:
            return self.turn_answer(kind, turn_text, instruction)
        return self.free_form(kind, self.lines_for(inp), instruction)

    # ---------------------------------------------------------------------------------------- structured
    def structured(self, name: str, schema: dict, lines: list[Line], instruction: str = "") -> dict[str, Any]:
        props = schema.get("properties") if isinstance(schema, dict) else None
        wanted = set(props) if name == "call_analysis" and isinstance(props, dict) and props else None

        def want(key: str, own_name: str) -> bool:
            return name == own_name or (name == "call_analysis" and (wanted is None and key != "checks"
                                                                      or wanted is not None and key in wanted))

        result: dict[str, Any] = {}
        if want("phases", "call_phases"):
            phases = schema_enum(schema, ["phases", "name"]) or DEFAULT_PHASES
            result["phases"] = analyze_phases(lines, phases, self.encoder)
        if want("answers", "call_sentiment"):
            questions = schema_enum(schema, ["answers", "question"])
            formats = {q.question: q.answer_format for q in parse_questions(instruction)}
            result["answers"] = self._structured_answers(lines, questions, formats)
        if want("action_items", "call_action_items"):
            result["action_items"] = extract_action_items(lines)
        if isinstance(props, dict) and "checks" in props:  # combined request, or with the sentiment questions
            result["checks"] = [self._check(q, lines) for q in schema_enum(schema, ["checks", "question"])]
        return result

    def _structured_answers(self, lines: list[Line], questions: list[str], formats: dict[str, str | None]) -> list:
        sentiment_qs = [q for q in questions if not is_yes_no(q, formats.get(q))]
        by_q = {a["question"]: a for a in analyze_sentiment(lines, sentiment_qs, self.encoder)}
        out = []
        for q in questions:
            if q in by_q:
                out.append(by_q[q])
                continue
            a = yes_no(q, lines, self.encoder)
            quote, reason = a.quote, a.reason
            if not quote and lines:  # every answer carries a verbatim quote: the line closest to the question
                quote = answer_question(f"What did anyone say about this: {q}", lines, self.encoder).quote
                reason = f'{reason} The closest line is: "{quote}"'
            out.append({"question": q, "answer": f"{a.answer} {a.reason}", "reason": reason, "quote": quote})
        return out

    def _check(self, question: str, lines: list[Line]) -> dict[str, str]:
        a = yes_no(question, lines, self.encoder)
        return {"question": question, "answer": a.yes_no or "no", "quote": a.quote}

    # ---------------------------------------------------------------------------------------- free-form
    def free_form(self, kind: PromptKind, lines: list[Line], instruction: str) -> str:
        if kind.kind == "phases" and lines:
            return self._phases_json(kind, lines)
        if kind.kind == "questions" and lines:
            return self._question_answers(kind.questions, lines)
        if kind.kind == "action_items" and lines:
            return self._action_items_text(kind, lines)
        if kind.kind == "summary" and lines:
            return summarize_call(lines, self.encoder)
        return extractive_answer(instruction, lines, self.encoder)

    def turn_answer(self, kind: PromptKind, turn_text: str, instruction: str) -> str:
        """Streaming `llm_gateway`: the prompt applied to one turn ({{turn}})."""
        line = [Line(0.0, 0.0, None, turn_text)]
        if kind.kind == "action_items":
            return self._action_items_text(kind, line)
        if kind.kind == "questions":
            return self._question_answers(kind.questions, line)
        if kind.kind == "summary":
            return summarize_turn(turn_text)
        return summarize_text(turn_text, self.encoder)

    def _phases_json(self, kind: PromptKind, lines: list[Line]) -> str:
        names = kind.phases or DEFAULT_PHASES
        phases = analyze_phases(lines, names, self.encoder)
        keys = {"name": "name", "start": "start_time", "end": "end_time", "summary": "summary", **kind.item_keys}
        out = []
        for ph in phases:
            seg = [ln for ln in lines if ph["start_time"] <= ln.start < ph["end_time"]] or lines[:1]
            item = {keys["name"]: ph["name"], keys["start"]: ph["start_time"], keys["end"]: ph["end_time"],
                    keys["summary"]: summarize_segment(seg, self.encoder)}
            out.append(item)
        return json.dumps({kind.list_key or "phases": out}, indent=2, ensure_ascii=False)

    def _question_answers(self, questions: list[Question], lines: list[Line]) -> str:
        blocks = []
        for i, q in enumerate(questions, start=1):
            a = answer_question(q.question, lines, self.encoder, q.answer_format)
            blocks.append(f"{i}. {q.question}\nAnswer: {a.answer} {a.reason}".rstrip())
        return "\n\n".join(blocks)

    def _action_items_text(self, kind: PromptKind, lines: list[Line]) -> str:
        items = find_commitments(lines)
        fmt = (kind.answer_format or "").lower()
        if "json" in fmt:
            return json.dumps({"action_items": [c.as_dict() for c in items]}, indent=2, ensure_ascii=False)
        if "number" in fmt:
            return "\n".join(f"{i}. {line[2:]}" for i, line in enumerate(format_bullets(items).splitlines(), 1))
        return format_bullets(items)

    def _instruction(self, inp: AnalysisInput, turn_text: str | None = None) -> str:
        """The user's request without the transcript in it (what the prompt kind and extractive answer read)."""
        users = [message_text(m) for m in inp.messages if m.get("role") in ("user", "system")]
        text = "\n\n".join(users[-2:]) if users else ""
        if inp.substituted_text:
            text = text.replace(inp.substituted_text, " ")
        if turn_text:
            text = text.replace(turn_text, " ")
        text = re.sub(r"(?ms)^\s*WEBVTT.*", " ", text)
        text = re.sub(r"(?m)^\s*\[\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?)?\].*$", " ", text)  # [s-e] or [s] lines
        return text.strip()[:6000]
