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
from .common import guess_roles, speaker_roles, split_sentences
from .phases import PHASE_TYPES

_GREETING = re.compile(r"^\s*(?:(?:hi|hello|hey|good\s+(?:morning|afternoon|evening)|morning|afternoon|evening)"
                       r"(?:\s+there)?(?:\s+[A-Z][a-z]+)?\s*[,.!]\s*)+", re.IGNORECASE)
_FILLER = re.compile(r"^\s*(?:(?:well|so|okay|ok|right|um|uh|oh|yes|yeah|no|sure|alright|honestly|frankly|great|"
                     r"perfect|fine|of\s+course|i\s+see|look|first|second|third|also|finally|then|and|but|plus|"
                     r"on\s+top\s+of\s+that|in\s+the\s+meantime|anyway|let\s+me\s+(?:check|see|look))\s*[,.!]?\s+)+",
                     re.IGNORECASE)
_INTRO = re.compile(r"\b(?i:this\s+is|my\s+name\s+is|it's|i'm|i\s+am|you're\s+speaking\s+with)\s+"
                    r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b|\b([A-Z][a-z]+)\s+(?i:here|speaking)\b")
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
        for pat, rep in ((r"\byou\s+have\b", "has"), (r"\byou've\b", "has"), (r"\byou\s+are\b", "is"),
                         (r"\byou\s+were\b", "was")):
            text = re.sub(pat, f"the {listener} {rep}", text, flags=re.IGNORECASE)
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


_WH_Q = re.compile(r"^(how|what|when|where|why|which|who|whom)\s+(can|could|will|would|is|are|was|were|should|may|"
                   r"might|shall)\s+(they|the\s+\w+|it|this|that|someone|anyone|we|you)\s+(.+)$", re.IGNORECASE)
_YOU_Q = re.compile(r"^(?:could|can|would|will)\s+you\s+(?:please\s+)?(.+)$", re.IGNORECASE)
_YN_Q = re.compile(r"^(is|are|was|were|do|does|did|have|has|can|could|will|would)\s+(.+)$", re.IGNORECASE)


def _predicate(sentence: str, listener: str | None = None) -> str:
    """The reported-speech predicate of a sentence: "says ...", "asks ...", "asks the other person to ..."."""
    s = _clean(sentence).rstrip()
    if not s:
        return ""
    if s.endswith("?"):
        raw = s.rstrip("?").strip()
        if m := _YOU_Q.match(raw):
            who = f"the {listener}" if listener else "the other person"
            return f"asks {who} to {third_person(m.group(1), listener)}"
        body = third_person(raw, listener)
        if m := _WH_Q.match(body):
            return f"asks {m.group(1).lower()} {m.group(3)} {m.group(2).lower()} {m.group(4)}"
        if re.match(r"^(?:how|what|when|where|why|which|who)\s+(?:do|does|did)\b", body, re.IGNORECASE) or \
                re.match(r"^(?:do|does|did)\b", body, re.IGNORECASE):
            return f'asks "{s}"'
        if re.match(r"^(?:how|what|when|where|why|which|who)\b", body, re.IGNORECASE):
            return f"asks {_lower_first(body)}"
        if _YN_Q.match(body):
            return f"asks whether {_lower_first(body)}"
        return f'asks "{s}"'
    body = third_person(s.rstrip(".!"), listener)
    return f"says {_lower_first(body)}"


def _reported(sentence: str, subject: str, listener: str | None = None) -> str:
    pred = _predicate(sentence, listener)
    return f"{subject} {pred}" if pred else ""


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
    # the most informative sentences: most content words, in their order (vocatives like "Of course, David." out)
    content = [s for s in content if len(_clean(s).split()) >= 3] or content
    ranked = sorted(range(len(content)), key=lambda i: -len(re.findall(r"[A-Za-z]{4,}", content[i])))
    preds = [p for i in sorted(ranked[:max_points]) if (p := _predicate(content[i], "other person"))]
    if not parts and not preds:
        return "The speaker agrees."
    if not parts:
        parts.append(f"The speaker {preds.pop(0)}")
    out = parts[0] + "".join(f" and {p}" for p in preds)
    return out.rstrip(".") + "."


def _merged_sentences(lines: list[Line], roles: list[str | None]) -> list[tuple[str | None, str]]:
    """(role, sentence) with consecutive lines of one speaker joined first (VTT cues split sentences)."""
    out: list[tuple[str | None, str]] = []
    buf: list[str] = []
    cur: tuple[str | None, str | None] | None = None
    for ln, role in zip(lines, roles, strict=True):
        key = (ln.speaker, role if ln.speaker else None)
        if cur is not None and key != cur:
            out.extend((cur[1] or _role_of_key(cur), s) for s in split_sentences(" ".join(buf)))
            buf = []
        cur = key
        buf.append(ln.text)
    if buf and cur is not None:
        out.extend((cur[1] or _role_of_key(cur), s) for s in split_sentences(" ".join(buf)))
    return out


def _role_of_key(key: tuple[str | None, str | None]) -> str | None:
    return key[1]


def _roles(lines: list[Line]) -> list[str | None]:
    if any(ln.speaker for ln in lines):
        roles = speaker_roles(lines)
        return [roles.get(ln.speaker or "") for ln in lines]
    return [None] * len(lines)


def _guessed(sentence: str) -> str | None:
    return guess_roles([Line(0.0, 0.0, None, sentence)])[0]


def summarize_call(lines: list[Line], encoder: MiniLMEncoder) -> str:
    if not lines:
        return "The transcript is empty."
    sents = [(role or _guessed(s), s) for role, s in _merged_sentences(lines, _roles(lines))]
    cut = max(1, (len(sents) * 2) // 3)
    problem_cues = PHASE_TYPES["problem"].cues
    cands = [s for role, s in sents[:cut] if role != "agent" and len(s.split()) >= 5 and not s.endswith("?")
             and re.search(r"\b(?:i|my|we|our|i'm|i've)\b", s, re.IGNORECASE)]
    parts = []
    if cands:
        emb = encoder.encode(cands)
        proto = encoder.encode(["I have a problem: something is wrong with my service, it does not work, I was "
                                "charged incorrectly, I want to change or cancel my account."])[0]
        score = emb @ proto + 0.05 * np.array([len(problem_cues.findall(c)) for c in cands])
        problem = cands[int(np.argmax(score))]
        reason = _lower_first(third_person(_clean(problem).rstrip(".!"), "agent"))
        parts.append(f"The customer called because {reason}.")
    items = find_commitments(lines)
    if items:
        agreed = []
        for c in items[:5]:
            owner = f"the {c.owner}" if c.owner else "one side"
            due = f" ({c.due_date})" if c.due_date else ""
            agreed.append(f"{owner} will {_lower_first(c.item)}{due}")
        parts.append("Agreed next steps: " + "; ".join(agreed) + ".")
    else:
        rest = [s for role, s in sents[len(sents) // 3:] if role != "customer" and len(s.split()) >= 5]
        if rest:
            emb = encoder.encode(rest)
            best = rest[int(np.argmax(emb @ emb.mean(axis=0)))]
            parts.append(f"In response, the agent {_predicate(best, 'customer')}.")
    tail = " ".join(ln.text for ln in lines[-3:]).lower()
    if re.search(r"\b(?:bye|goodbye|have a (?:good|great|nice|wonderful))\b", tail):
        parts.append("The call ends politely" + (" with thanks." if "thank" in tail else "."))
    return " ".join(parts) if parts else summarize_segment(lines, encoder)


def summarize_segment(lines: list[Line], encoder: MiniLMEncoder, max_points: int = 2) -> str:
    """One or two central sentences of a stretch of the call, as reported speech."""
    merged = [(role or _guessed(s), s) for role, s in _merged_sentences(lines, _roles(lines))]
    sents = [(r, s) for r, s in merged if not _COURTESY.match(s) and len(_clean(s).split()) >= 3] or merged
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
        role, s = sents[i]
        subject = f"The {role}" if role else "One speaker"
        listener = {"agent": "customer", "customer": "agent"}.get(role or "", "other speaker")
        rep = _reported(s, subject, listener)
        if rep:
            out.append(rep.rstrip(".") + ".")
    return " ".join(out)
