"""Helpers shared by the offline analyzers: speaker roles, sentence splitting, schema enums."""

from __future__ import annotations

import re
from typing import Any

from ..transcript_parse import Line

_AGENT_CUES = re.compile(
    r"\b(thank(s| you) for calling|how (can|may) i help|my name is|this is \w+ (from|speaking)|speaking\b|"
    r"customer (care|service|support)|support\b|let me (check|take a look)|i can see|is there anything else)",
    re.IGNORECASE)
_ROLE_NAMES = {"agent": "agent", "representative": "agent", "rep": "agent", "advisor": "agent",
               "operator": "agent", "customer": "customer", "caller": "customer", "client": "customer"}
_ANONYMOUS = re.compile(r"^(?:[A-Z]|speaker\s*\w+|spk_?\d+|channel\s*\d+|\d+|unknown)$", re.IGNORECASE)


def speakers(lines: list[Line]) -> list[str]:
    seen: list[str] = []
    for ln in lines:
        if ln.speaker and ln.speaker not in seen:
            seen.append(ln.speaker)
    return seen


def agent_speaker(lines: list[Line]) -> str | None:
    """The speaker who behaves like the agent: explicit role names first, then agent phrases, then
    whoever speaks first (agents answer the phone)."""
    spk = speakers(lines)
    for s in spk:
        if _ROLE_NAMES.get(s.lower()) == "agent":
            return s
    if not spk:
        return None
    scores = {s: 0 for s in spk}
    for ln in lines:
        if ln.speaker:
            scores[ln.speaker] += len(_AGENT_CUES.findall(ln.text))
    best = max(spk, key=lambda s: (scores[s], -spk.index(s)))
    return best if scores[best] > 0 else spk[0]


def speaker_roles(lines: list[Line]) -> dict[str, str]:
    """Each speaker label's role: role names as such ("Agent" -> agent, "Caller" -> customer, "Prospect" ->
    prospect); anonymous labels (letters, "Speaker 1", channels) by the agent-cue heuristic (agent_speaker)."""
    spk = speakers(lines)
    agent = agent_speaker(lines) if any(_ANONYMOUS.match(s) for s in spk) else None
    roles: dict[str, str] = {}
    for s in spk:
        if s.lower() in _ROLE_NAMES:
            roles[s] = _ROLE_NAMES[s.lower()]
        elif _ANONYMOUS.match(s):
            roles[s] = "agent" if s == agent else "customer"
        else:
            roles[s] = s.lower()
    return roles


def role_of(speaker: str | None, lines: list[Line]) -> str | None:
    return speaker_roles(lines).get(speaker) if speaker else None


def customer_speaker(lines: list[Line]) -> str | None:
    agent = agent_speaker(lines)
    others = [s for s in speakers(lines) if s != agent]
    for s in others:
        if _ROLE_NAMES.get(s.lower()) == "customer":
            return s
    return others[0] if others else None


_SENT_SPLIT = re.compile(r"(?<=[.?!])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences as exact substrings of `text`."""
    return [s for s in _SENT_SPLIT.split(text.strip()) if s]


def _resolve(schema: Any, root: dict) -> Any:
    if isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#/"):
            node: Any = root
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            return _resolve(node, root)
    return schema


def schema_enum(schema: dict, path: list[str]) -> list[str]:
    """The `enum` found by walking `properties`/`items` along `path` (e.g. ["phases", "name"])."""
    root = schema
    node: Any = _resolve(schema, root)
    for key in path:
        node = _resolve(node, root)
        if isinstance(node, dict) and node.get("type") == "array" or (isinstance(node, dict) and "items" in node):
            node = _resolve(node.get("items", {}), root)
        props = node.get("properties", {}) if isinstance(node, dict) else {}
        node = _resolve(props.get(key, {}), root)
    if isinstance(node, dict) and node.get("type") == "array" and "items" in node:
        node = _resolve(node["items"], root)
    values = node.get("enum") if isinstance(node, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def format_line(line: Line) -> str:
    return f"{line.speaker}: {line.text}" if line.speaker else line.text


_AGENT_TALK = re.compile(
    r"\b(?:thank(?:s| you) for (?:calling|holding|your patience)|how (?:can|may) i (?:help|assist)|let me|i can see|"
    r"i've (?:found|booked|applied|processed|issued)|your (?:account|booking|order|bill|card|policy|membership|"
    r"ticket|reference)|is there anything else|you(?:'ll| will) (?:receive|get|see)|i (?:will|'ll|can) "
    r"(?:refund|book|send|credit|issue|arrange|set|offer|give|transfer|escalate|fix|correct|process)|"
    r"(?:can|could) (?:you|i) (?:confirm|give me|get|have) your|the good news|here(?:'s| is) what|our (?:team|system|"
    r"records|engineer|technician))\b", re.IGNORECASE)
_CUSTOMER_TALK = re.compile(
    r"\b(?:my (?:bill|account|card|internet|phone|car|order|booking|flight|policy|membership|machine|contract|"
    r"payment|statement|money|husband|wife|team)|i(?:'m| am) (?:calling|ringing|phoning)|i (?:have|had|got) (?:a|an) "
    r"(?:question|problem|issue)|i was charged|i(?:'d| would) like to|i want to|i need|i paid|i tried|"
    r"can you help me|it (?:doesn't|does not|won't|stopped)|"
    r"thank(?:s| you) (?:so much )?for (?:your|the|all your) help|"
    r"you(?:'ve| have) been (?:very |really |so )?helpful|"
    r"i(?:'m| am) (?:frustrated|annoyed|angry|upset|not happy))\b",
    re.IGNORECASE)


def guess_roles(lines: list[Line]) -> list[str | None]:
    """Roles for lines without speaker labels, from what is said: service phrases ("your account", "let me
    check", "I'll refund") -> agent, own-problem phrases ("my bill", "I was charged") -> customer, else None."""
    out: list[str | None] = []
    for ln in lines:
        a = 2 * len(_AGENT_TALK.findall(ln.text)) + len(re.findall(r"\byour?\b", ln.text, re.IGNORECASE))
        c = 2 * len(_CUSTOMER_TALK.findall(ln.text)) + len(re.findall(r"\b(?:my|me)\b", ln.text, re.IGNORECASE))
        out.append("agent" if a >= c + 2 else "customer" if c >= a + 2 else None)
    return out
