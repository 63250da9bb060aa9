"""Short summaries without an LLM: chosen sentences rewritten as reported speech in the third person.

* `summarize_turn(text)`: one streaming turn -> "The speaker introduces themselves as Linda Clark and says
  they have a quick question about their electricity bill." (never the turn echoed back).
* `summarize_call(lines)`: why the customer called (the most problem-like customer sentence of the first
  half), what was agreed (the commitments) and how the call ended.
* `summarize_segment(lines)`: one or two central sentences of a stretch of the call (phase summaries).
"""

from __future__ import annotations

import re

import numpy as np

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .action_items import find_commitments
from .common import speaker_roles, split_sentences

_GREETING = re.compile(r"^\s*(?:(?:hi|hello|hey|good\s+(?:morning|afternoon|evening)|morning|afternoon|evening)"
                       r"(?:\s+there)?(?:\s+[A-Z][a-z]+)?\s*[,.!]\s*)+", re.IGNORECASE)
_FILLER = re.compile(r"^\s*(?:(?:well|so|okay|ok|right|um|uh|oh|yes|yeah|no|sure|alright|honestly|frankly|great|"
                     r"perfect|fine|of\s+course|i\s+see|look)\s*[,.!]\s*)+", re.IGNORECASE)
_INTRO = re.compile(r"\b(?:this\s+is|my\s+name\s+is|it's|i'm|i\s+am|you're\s+speaking\s+with|you've\s+reached)\s+"
                    r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b|\b([A-Z][a-z]+)\s+(?:here|speaking)\b")
_COMPANY = re.compile(r"\b(?:from|at|calling|welcome\s+to|reached|for\s+calling)\s+((?:[A-Z][a-zA-Z]+\s?){1,3})")
_COURTESY = re.compile(r"^\s*(?:thanks?|thank\s+you|cheers|bye|goodbye|bye\s+for\s+now|you\s+too|take\s+care|"
                       r"have\s+a\s+\w+\s+(?:day|evening|night|one)|you're\s+welcome|my\s+pleasure|no\s+problem|"
                       r"sounds\s+good|that's\s+(?:all|it|everything)|okay|ok|great|perfect|alright|sure|yes|no|"
                       r"and\s+you|same\s+to\s+you)\b[\s\w,']*[.!]?\s*$", re.IGNORECASE)
_NAMES_STOP = {"The", "This", "That", "Our", "Your", "My", "It", "Thanks", "Thank", "Sure", "Yes", "No", "Okay"}

_PERSON = [
    (r"\bI\s+am\b", "they are"), (r"\bI'm\b", "they're"), (r"\bI've\b", "they've"), (r"\bI'll\b", "they'll"),
    (r"\bI'd\b", "they'd"), (r"\bI\s+was\b", "they were"), (r"\bI\b", "they"), (r"\bmy\b", "their"),
    (r"\bme\b", "them"), (r"\bmine\b", "theirs"), (r"\bmyself\b", "themselves"),
    (r"\bwe're\b", "they're"), (r"\bwe've\b", "they've"), (r"\bwe'll\b", "they'll"), (r"\bwe\b", "they"),
    (r"\bour\b", "their"), (r"\bus\b", "them"),
]


def third_person(sentence: str, listener: str | None = None) -> str:
    """"I have a question about my bill" -> "they have a question about their bill"; "you" -> the listener."""
    text = sentence
    for pat, rep in _PERSON:
        text = re.sub(pat, rep, text, flags=re.IGNORECASE)
    if listener:
        text = re.sub(r"\byour\b", f"the {listener}'s", text, flags=re.IGNORECASE)
        text = re.sub(r"\byou're\b", f"the {listener} is", text, flags=re.IGNORECASE)
        text = re.sub(r"\byou\b", f"the {listener}", text, flags=re.IGNORECASE)
    return text


def _clean(sentence: str) -> str:
    s = _GREETING.sub("", sentence)
    s = _FILLER.sub("", s).strip()
    return s


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() or len(s) < 2 else s


def _reported(sentence: str, subject: str, listener: str | None = None) -> str:
    s = _clean(sentence).rstrip()
    if not s:
        return ""
    if s.endswith("?"):
        body = third_person(s.rstrip("?"), listener)
        return f"{subject} asks {_lower_first(body)}"
    body = third_person(s.rstrip(".!"), listener)
    return f"{subject} says {_lower_first(body)}"


def _intro(text: str) -> str | None:
    m = _INTRO.search(text)
    if not m:
        return None
    name = (m.group(1) or m.group(2) or "").strip()
    first = name.split()[0] if name else ""
    if not name or first in _NAMES_STOP or first.lower() in ("calling", "sorry", "just", "glad", "afraid"):
        return None
    return name


def summarize_turn(text: str, max_points: int = 2) -> str:
    """A one-or-two sentence summary of a single turn in the third person."""
    sentences = [s for s in split_sentences(text.strip()) if s.strip()]
    if not sentences:
        return "The speaker said nothing that could be transcribed."
    parts: list[str] = []
    name = _intro(text)
    company = _COMPANY.search(text)
    if name:
        where = f" from {company.group(1).strip()}" if company else ""
        parts.append(f"The speaker introduces themselves as {name}{where}")
    content = [s for s in sentences if not _COURTESY.match(s) and not (name and _INTRO.search(s)
                                                                          and len(_clean(s).split()) <= 6)]
    if not content and not parts:
        low = text.lower()
        if re.search(r"\b(?:bye|goodbye)\b", low):
            return "The speaker says goodbye" + (" and thanks the other person." if "thank" in low else ".")
        if "thank" in low:
            return "The speaker thanks the other person."
        return f"The speaker agrees ({_clean(text).rstrip('.!') or text.strip().rstrip('.!')})."
    # the most informative sentences: most content words, in their order
    ranked = sorted(range(len(content)), key=lambda i: -len(re.findall(r"[A-Za-z]{4,}", content[i])))
    chosen = sorted(ranked[:max_points])
    for k, i in enumerate(chosen):
        subject = "they" if parts or k else "The speaker"
        rep = _reported(content[i], subject)
        if rep:
            parts.append(rep)
    if not parts:
        return "The speaker agrees."
    out = parts[0] + "".join(f", and {p}" if j == 1 and len(parts) == 2 else f". {p[:1].upper()}{p[1:]}"
                             for j, p in enumerate(parts[1:], start=1))
    return out.rstrip(".") + "."


def _problem_sentence(lines: list[Line], encoder: MiniLMEncoder, role_lines: list[Line]) -> str | None:
    cands = [s for ln in role_lines for s in split_sentences(ln.text) if len(s.split()) >= 5 and not s.endswith("?")]
    if not cands:
        return None
    emb = encoder.encode(cands)
    proto = encoder.encode(["I have a problem: something is wrong, it does not work, I was charged incorrectly, "
                            "I want to change or cancel my service."])[0]
    return cands[int(np.argmax(emb @ proto))]


def summarize_call(lines: list[Line], encoder: MiniLMEncoder) -> str:
    if not lines:
        return "The transcript is empty."
    roles = speaker_roles(lines)
    customer = [ln for ln in lines if roles.get(ln.speaker or "") not in (None, "agent")]
    half = lines[: max(1, (len(lines) * 2) // 3)]
    pool = [ln for ln in half if ln in customer] or half
    parts = []
    problem = _problem_sentence(lines, encoder, pool)
    who = "The customer" if customer else "The caller"
    if problem:
        parts.append(f"{who} called because {_lower_first(third_person(_clean(problem).rstrip('.!'), 'agent'))}.")
    items = find_commitments(lines)
    if items:
        agreed = []
        for c in items[:4]:
            owner = f"the {c.owner}" if c.owner else "someone"
            due = f" ({c.due_date})" if c.due_date else ""
            agreed.append(f"{owner} will {_lower_first(c.item)}{due}")
        parts.append("Agreed next steps: " + "; ".join(agreed) + ".")
    else:
        agent = [ln for ln in lines[len(lines) // 3:] if roles.get(ln.speaker or "") == "agent"] or lines
        sent = [s for ln in agent for s in split_sentences(ln.text) if len(s.split()) >= 5]
        if sent:
            emb = encoder.encode(sent)
            best = sent[int(np.argmax(emb @ emb.mean(axis=0)))]
            subject = "the agent" if customer else "the other speaker"
            parts.append(f"In response, {_lower_first(_reported(best, subject, 'customer'))}.")
    tail = " ".join(ln.text for ln in lines[-3:]).lower()
    if re.search(r"\b(?:bye|goodbye|have a (?:good|great|nice|wonderful))\b", tail):
        parts.append("The call ends politely" + (" with thanks." if "thank" in tail else "."))
    return " ".join(parts) if parts else summarize_segment(lines, encoder)


def summarize_segment(lines: list[Line], encoder: MiniLMEncoder, max_points: int = 2) -> str:
    """One or two central sentences of a stretch of the call, as reported speech."""
    roles = speaker_roles(lines)
    sents = [(ln, s) for ln in lines for s in split_sentences(ln.text) if not _COURTESY.match(s)]
    if not sents:
        sents = [(ln, s) for ln in lines for s in split_sentences(ln.text)]
    if not sents:
        return ""
    if len(sents) > max_points:
        emb = encoder.encode([s for _, s in sents])
        centrality = emb @ emb.mean(axis=0) + 0.02 * np.array([min(len(s.split()), 15) for _, s in sents])
        chosen = sorted(np.argsort(-centrality)[:max_points].tolist())
    else:
        chosen = list(range(len(sents)))
    out = []
    for i in chosen:
        ln, s = sents[i]
        role = roles.get(ln.speaker or "")
        subject = f"The {role}" if role else "A speaker"
        listener = {"agent": "customer", "customer": "agent"}.get(role or "")
        rep = _reported(s, subject, listener)
        if rep:
            out.append(rep.rstrip(".") + ".")
    return " ".join(out)
