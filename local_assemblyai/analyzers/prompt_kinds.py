"""What a free-form prompt asks for (no LLM: the request's own wording, read with rules).

Recognised kinds, in order of precedence:
* ``phases``: divide/segment the call into phases; the phase names come from the prompt ("into the following
  phases: A, B, C" or a bulleted list), the answer's JSON keys from the prompt's own example structure.
* ``questions``: ``Question: ...`` blocks (with optional ``Context:`` and ``Answer Format:``), or a numbered /
  bulleted list of questions under "Questions:".
* ``action_items``: action items / to-dos / next steps / follow-ups, with the requested answer format.
* ``summary``: summarise / recap / main take-away (of a transcript, or of one streaming turn).
* ``unknown``: anything else (answered by the labelled extractive fallback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Question:
    question: str
    context: str | None = None
    answer_format: str | None = None


@dataclass
class PromptKind:
    kind: str                                   # phases | questions | action_items | summary | unknown
    phases: list[str] = field(default_factory=list)
    list_key: str = "phases"                    # the JSON example's top-level key
    item_keys: dict[str, str] = field(default_factory=dict)  # role (name/start/end/summary) -> the example's key
    questions: list[Question] = field(default_factory=list)
    answer_format: str | None = None            # action items / shared question format


_PHASE_ASK = re.compile(r"\b(?:divide|segment|split|break|separate|partition)\w*\b[^.\n]{0,80}\bphases?\b|"
                        r"\bphases?\s+of\s+the\s+(?:call|conversation)\b|\b(?:identify|label)\b[^.\n]{0,40}\bphases\b",
                        re.IGNORECASE)
_PHASE_LIST = re.compile(r"\bphases?\b[^:\n]{0,60}:\s*\n?\s*([^\n]+)", re.IGNORECASE)
_ACTION_ASK = re.compile(r"\baction[\s-]+items?\b|\bto-?dos?\b|\bnext\s+steps\b|\bfollow[\s-]?ups\b|\btasks\b"
                         r"[^.\n]{0,40}\b(?:assigned|agreed|committed)\b", re.IGNORECASE)
_SUMMARY_ASK = re.compile(r"\bsummar(?:y|ise|ize|ies)\b|\brecap\b|\btl;?dr\b|\bmain\s+take[\s-]?aways?\b|"
                          r"\bkey\s+(?:points|takeaways)\b|\bgist\b|\boverview\b|"
                          # "say what the speaker wants or reports in this turn" (the edge client's default prompt)
                          r"\b(?:say|state|describe|tell|explain)\b[^.\n]{0,40}\bwhat\b[^.\n]{0,40}"
                          r"\b(?:wants?|reports?|says?|said|asks?|needs?|means?)\b", re.IGNORECASE)
_FORMAT = re.compile(r"\b(?:following\s+format|answer\s+format|format(?:ted)?\s+(?:as|in|like)|should\s+follow\s+this"
                     r"\s+format|response\s+format)\s*:?\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_Q_BLOCK = re.compile(r"(?im)^\s*(?:\d+[.)]\s*)?Question\s*\d*\s*:\s*(.+)$")
_CTX = re.compile(r"(?im)^\s*Context\s*:\s*(.+)$")
_AF = re.compile(r"(?im)^\s*Answer\s+Format\s*(?:\([^)]*\))?\s*:\s*(.+)$")
_SHARED_AF = re.compile(r"(?im)^\s*Answer\s+Format\s*\(([^)]*)\)\s*:\s*(.+)$")


def _phase_names(text: str) -> list[str]:
    m = _PHASE_LIST.search(text)
    if not m:
        return []
    first = m.group(1).strip()
    if "," in first:
        names = [n.strip(" .*-\"'") for n in re.split(r",|\band\b", first)]
        return [n for n in names if n and len(n) <= 40]
    # a bulleted / numbered list under the phrase
    tail = text[m.start(1):]
    names = []
    for ln in tail.splitlines():
        b = re.match(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.{1,40})$", ln)
        if not b:
            if names:
                break
            continue
        names.append(b.group(1).strip(" .*\"'"))
    return names


def _json_example(text: str) -> tuple[str, dict[str, str]]:
    """The example structure's list key and item keys: {"phases": [{"name":, "start_time":, ...}]}."""
    m = re.search(r"\{\s*\"(\w+)\"\s*:\s*\[\s*\{(.*?)\}", text, re.DOTALL)
    if not m:
        return "phases", {}
    keys = re.findall(r"\"(\w+)\"\s*:", m.group(2))
    roles: dict[str, str] = {}
    for k in keys:
        low = k.lower()
        if "start" in low or low in ("from", "begin"):
            roles.setdefault("start", k)
        elif "end" in low or low in ("to", "until", "stop"):
            roles.setdefault("end", k)
        elif any(w in low for w in ("summary", "description", "detail", "what")):
            roles.setdefault("summary", k)
        elif any(w in low for w in ("name", "phase", "label", "title", "type")):
            roles.setdefault("name", k)
        else:
            roles.setdefault(f"extra:{k}", k)
    return m.group(1), roles


def parse_questions(text: str) -> list[Question]:
    """`Question:` blocks (each up to the next one), else a numbered/bulleted list of '?' lines after
    "Questions:"."""
    blocks = list(_Q_BLOCK.finditer(text))
    out: list[Question] = []
    for i, m in enumerate(blocks):
        body = text[m.end(): blocks[i + 1].start() if i + 1 < len(blocks) else len(text)]
        body = re.split(r"\n\s*\n", body, maxsplit=1)[0] if i + 1 == len(blocks) else body
        ctx, af = _CTX.search(body), _AF.search(body)
        out.append(Question(m.group(1).strip(), ctx.group(1).strip() if ctx else None,
                            af.group(1).strip() if af else None))
    if out:
        shared = _SHARED_AF.search(text)
        if shared:
            for q in out:
                q.answer_format = q.answer_format or shared.group(2).strip()
        return out
    head = re.search(r"(?im)^\s*questions?\s*:\s*$", text)
    if head:
        for ln in text[head.end():].splitlines():
            b = re.match(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+\?)\s*$", ln)
            if b:
                out.append(Question(b.group(1).strip()))
            elif out and ln.strip():
                break
    return out


def classify(instruction: str) -> PromptKind:
    text = instruction or ""
    if _PHASE_ASK.search(text):
        key, item_keys = _json_example(text)
        return PromptKind("phases", phases=_phase_names(text), list_key=key, item_keys=item_keys)
    questions = parse_questions(text)
    if questions:
        shared = _SHARED_AF.search(text)
        return PromptKind("questions", questions=questions, answer_format=shared.group(2).strip() if shared else None)
    if _ACTION_ASK.search(text):
        fm = _FORMAT.search(text)
        return PromptKind("action_items", answer_format=fm.group(1).strip() if fm else None)
    if _SUMMARY_ASK.search(text):
        return PromptKind("summary")
    return PromptKind("unknown")


def is_yes_no(question: str, answer_format: str | None = None) -> bool:
    if answer_format and re.search(r"\byes\s*(?:or|/)\s*no\b", answer_format, re.IGNORECASE):
        return True
    return bool(re.match(r"^\s*(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|should)\b",
                         question, re.IGNORECASE)) and not re.search(r"\b(?:or)\b\s+\w+\s*\?$", question)
