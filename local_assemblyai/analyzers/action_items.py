"""Action items by cue phrases: commitments ("I will ...") owned by the speaker, requests ("please
send ...") owned by the other party, due dates from date expressions in the same sentence."""

from __future__ import annotations

import re

from ..transcript_parse import Line
from .common import speakers, split_sentences

_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_NUM = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty)"
DUE = re.compile(
    rf"\b(?:(?:by|on|before|until|this|next)\s+)?(?:{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)?\s+of\s+{_MONTH}"
    rf"|today|tonight|tomorrow(?:\s+(?:morning|afternoon|evening))?|this\s+(?:morning|afternoon|evening|week|month)"
    rf"|next\s+(?:week|month)|end\s+of\s+(?:the\s+)?(?:day|week|month)|shortly|right\s+away|asap"
    rf"|within\s+{_NUM}(?:\s+to\s+{_NUM})?\s+(?:business\s+|working\s+)?(?:days|hours|weeks))\b",
    re.IGNORECASE)
# "I will / we'll / I am going to <verb>", excluding states ("I will be at home") and in-call talk.
COMMIT = re.compile(r"\b(?:i|we)(?:\s+will|'ll|\s+am\s+going\s+to|\s+are\s+going\s+to|'m\s+going\s+to|\s+shall)"
                    r"(?:\s+also)?\s+(?!be\b|have\b|need\b|see\b|help\b|check\b|take\s+a\s+look\b)([a-z]+\b.*)",
                    re.IGNORECASE)
PROGRESSIVE = re.compile(r"\b(?:i|we)\s+(?:am|are|'m|'re)\s+(?:also\s+)?"
                         r"(?!calling|trying|looking|having|going|glad|sorry|afraid|happy)([a-z]+ing\b.*)",
                         re.IGNORECASE)
YOU_RECEIVE = re.compile(r"\byou(?:'ll|\s+will)\s+(?:also\s+)?(?:receive|get)\s+(.*)", re.IGNORECASE)
REQUEST = re.compile(r"\b(?:please|could\s+you|can\s+you|would\s+you|make\s+sure\s+(?:to|you)|remember\s+to|"
                     r"don't\s+forget\s+to)\s+(?:please\s+)?((?:send|email|call|pay|upload|submit|sign|return|"
                     r"bring|forward|reply|complete|fill)\b.*)", re.IGNORECASE)


def _clean(clause: str) -> str:
    clause = clause.strip().rstrip(".!?,;")
    return clause[:1].upper() + clause[1:]


def _other(speaker: str | None, all_speakers: list[str]) -> str | None:
    others = [s for s in all_speakers if s != speaker]
    return others[0] if len(others) == 1 else None


def _ing_to_base(verb: str) -> str:
    base = verb[:-3]
    if len(base) > 2 and base[-1] == base[-2] and base[-1] in "bgmnprt":
        base = base[:-1]  # "booking" -> "book", "getting" -> "get"
    return base


def extract_action_items(lines: list[Line]) -> list[dict]:
    all_speakers = speakers(lines)
    items: list[dict] = []
    seen: set[str] = set()
    for ln in lines:
        for sentence in split_sentences(ln.text):
            if sentence.rstrip().endswith("?"):
                continue  # questions are not commitments
            found: tuple[str, str | None] | None = None
            if m := COMMIT.search(sentence):
                found = (_clean(m.group(1)), ln.speaker)
            elif m := PROGRESSIVE.search(sentence):
                verb, _, rest = m.group(1).partition(" ")
                found = (_clean(f"{_ing_to_base(verb)} {rest}"), ln.speaker)
            elif m := YOU_RECEIVE.search(sentence):
                found = (_clean(f"send {m.group(1)}"), ln.speaker)
            elif m := REQUEST.search(sentence):
                found = (_clean(m.group(1)), _other(ln.speaker, all_speakers))
            if not found:
                continue
            item, owner = found
            key = item.lower()
            if key in seen or len(item.split()) < 2:
                continue
            seen.add(key)
            due = DUE.search(sentence)
            items.append({"item": item, "owner": owner, "due_date": due.group(0) if due else None})
    return items
