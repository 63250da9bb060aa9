"""Action items are commitments: what a speaker says they (or their company) will do, and requests the other
party accepts. Each item is a complete imperative ("Refund the duplicate payment to the customer's card"),
owned by the committing speaker's role, with the due date or time exactly as said.

Sources, per sentence, split into clauses at ", and" / "; " / " and <verb>":
* "I'll / I will / I'm going to / we'll / we're going to / I'm (also) <verb>ing" (action verbs only for the
  progressive) -> owned by the speaker;
* "<something> will be <verb>ed" and "you'll receive <X>" said by the agent -> owned by the agent;
* "could you / can you / please <verb> ..." answered by the other party with an acceptance ("Sure", "Okay,
  I'll ...") -> owned by the other party; "I'll do that / I'll unplug it" takes its object from the request.
States ("I'll be at home"), in-call talk ("I'll take a look", "let me check"), questions and conditional offers
nobody takes up are not items. The due date is the first date/time expression of the clause, else of the
sentence, else of the answer to a "when ...?" / "how long ...?" asked right after the commitment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..transcript_parse import Line
from .common import guess_roles, speaker_roles, speakers, split_sentences

_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_NUM = (r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
        r"forty(?:-eight)?|fifty|sixty|ninety|a\s+few|a\s+couple\s+of|twenty-four|seventy-two)")
_ORD = (r"(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|"
        r"twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
        r"twenty-\w+|thirtieth|thirty-first)")
_CLOCK = (r"(?:\d{1,2}(?::\d{2})?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon|midnight)"
          r"(?:\s*(?:am|pm|a\.m\.|p\.m\.|o'clock|thirty))?")
_PART = r"(?:morning|afternoon|evening|night)"
_UNIT = r"(?:(?:business|working)\s+)?(?:minutes?|hours?|days?|weeks?|months?)"
_PREP = r"(?:(?:by|on|before|until|till|after|from|starting|no\s+later\s+than|first\s+thing)\s+)?"
DUE = re.compile(
    rf"\b{_PREP}(?:"
    rf"(?:this\s+|next\s+|coming\s+)?{_WEEKDAY}(?:\s+{_PART})?(?:\s+(?:at|by|before)\s+{_CLOCK})?"
    rf"|{_MONTH}\s+{_ORD}|(?:the\s+)?{_ORD}\s+of\s+{_MONTH}|the\s+{_ORD}\b"
    rf"|(?:first\s+thing\s+)?tomorrow(?:\s+{_PART})?(?:\s+at\s+{_CLOCK})?|today|tonight|later\s+today"
    rf"|(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:day|week|month|business\s+day)"
    rf"|(?:this|next)\s+(?:{_PART}|week|month|year)(?!'s)|(?:the\s+)?(?:{_PART}|day|night)\s+before"
    rf"|(?:within|in)\s+(?:the\s+next\s+)?{_NUM}(?:\s+(?:to|or)\s+{_NUM})?\s+{_UNIT}"
    rf"|after\s+{_NUM}\s+{_UNIT}|within\s+the\s+(?:hour|day|week)"
    rf"|(?:from|starting\s+with|with)\s+(?:your|the)\s+next\s+(?:bill|invoice|statement|billing\s+cycle|payment)"
    rf"|right\s+now|right\s+away|straight\s+away|immediately|shortly|asap|as\s+soon\s+as\s+possible"
    rf"|(?:right\s+)?after\s+(?:this|the)\s+call|then|now(?!\s+on)"
    rf"|at\s+{_CLOCK}(?:\s+(?:today|tomorrow|tonight))?)\b",
    re.IGNORECASE)
_DUE_ALONE_BAD = re.compile(r"^(?:then|the\s+\w+)$", re.IGNORECASE)  # need a preposition to be a due

# Verbs that are not tasks after "I'll / I will" (states, in-call talk, vague).
NON_ACTIONS = {"be", "have", "need", "see", "help", "take", "look", "think", "try", "wait", "hold", "just", "stay",
               "get", "go", "do", "want", "like", "love", "bet", "live", "still", "probably", "maybe", "say", "tell",
               "ask", "hear", "leave",
               "keep", "miss", "come", "put", "give", "find", "talk", "speak", "read", "explain", "start", "stop"}
# ... except with an object that makes them tasks ("I'll put the money back", "I'll give you a call").
_TASK_OBJECT = re.compile(r"\b(back|call|refund|credit|update|link|email|note|number|receipt|details|form|team|"
                          r"ticket|copy|quote|invoice|statement|through)\b", re.IGNORECASE)
# Base forms of common task verbs (for the progressive "I'm adding", participles "will be refunded" and
# splitting "... and book a visit").
VERBS = set("""add apply arrange activate book block call cancel change check close confirm contact correct credit
deliver dispatch email escalate extend file fill fix follow forward go install issue let look mail make move notify
open order pay post prepare process provide put raise refund register reissue remove renew replace report reset
return review schedule send set share ship sign speak submit switch talk tell text transfer unplug update upgrade
upload verify waive write reply reach ring phone reimburse reverse restore release reconnect resend reschedule
investigate log chase flag sort organise organize handle cover draft finish complete bring drop pick leave keep
turn take""".split())
_IRREGULAR = {"sent": "send", "paid": "pay", "made": "make", "set": "set", "put": "put", "written": "write",
              "sorted": "sort", "done": "do", "given": "give", "told": "tell", "brought": "bring"}

COMMIT = re.compile(
    r"\b(?:i|we)(?:\s+will|'ll|\s+am\s+going\s+to|'m\s+going\s+to|\s+are\s+going\s+to|'re\s+going\s+to|\s+shall|"
    r"'m\s+gonna)\s+(?:also\s+|now\s+|then\s+|just\s+|definitely\s+|personally\s+)*([a-z][a-z'-]*\b.*)",
    re.IGNORECASE)
PROGRESSIVE = re.compile(r"\b(?:i|we)(?:\s+am|\s+are|'m|'re)\s+(?:also\s+|now\s+|just\s+)*([a-z]+ing)\b(.*)",
                         re.IGNORECASE)
PASSIVE = re.compile(r"^(?:and\s+|also\s+)?((?:the|your|a|an|any|all|this|that|our|my)\s+[\w\s'-]{2,60}?)\s+"
                     r"(?:will|'ll|is\s+going\s+to)\s+be\s+([a-z]+(?:ed|t|id|en))\b(.*)", re.IGNORECASE)
YOU_RECEIVE = re.compile(r"\byou(?:'ll|\s+will|\s+should)\s+(?:also\s+)?(?:receive|get|have)\s+(.*)", re.IGNORECASE)
MONEY_BACK = re.compile(r"^(?:your|the|a)\s+(?:money|payment|fee|charge|deposit)s?\s+back\b(.*)$", re.IGNORECASE)
# "we'll have an engineer out / someone come round" -> "Send an engineer ..."
HAVE_SOMEONE = re.compile(r"^have\s+((?:an?|the|our|one\s+of\s+our)\s+\w+|someone|somebody)\s+(?:out|over|round|around|"
                          r"come\s+(?:out|over|round)?|visit|call)\b\s*(.*)$", re.IGNORECASE)
REQUEST = re.compile(r"\b(?:please|could\s+you|can\s+you|would\s+you|will\s+you|i\s+need\s+you\s+to|"
                     r"make\s+sure\s+(?:to|you)|remember\s+to|don't\s+forget\s+to)\s+(?:please\s+|also\s+)*"
                     r"([a-z]+\b.*)", re.IGNORECASE)
DO_THAT = re.compile(r"\b(?:i|we)(?:'ll|\s+will|\s+can|\s+am\s+going\s+to|'m\s+going\s+to)\s+(?:definitely\s+)?"
                     r"(?:do|sort|handle|manage|arrange)\s+(?:that|it|this)\b(.*)", re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:not\s+sure|don't\s+know\s+(?:if|whether)|maybe|might|perhaps|i\s+doubt|i\s+wish)\b",
                    re.IGNORECASE)
ACCEPT = re.compile(r"^\W*(?:sure|yes|yeah|yep|okay|ok|of\s+course|certainly|no\s+problem|will\s+do|fine|alright|"
                    r"absolutely|great|perfect|lovely|sounds\s+good|i\s+can\s+do\s+that|i'll\s+do\s+that|i\s+will)\b|"
                    r"^[^.?!]{0,40}\b(?:is|are|'s)\s+(?:fine|good|great|perfect|okay|ok)\b|"
                    r"^[^.?!]{0,30}\b(?:works\s+for\s+me|that\s+works)\b", re.IGNORECASE)
WHEN_Q = re.compile(r"\b(when|how\s+long|what\s+time|which\s+day|how\s+soon)\b", re.IGNORECASE)
_CUT = re.compile(r"\s*(?:,\s*|\s+)(?:so\s+(?:that\s+)?|because\s+|since\s+|as\s+you\s+asked|as\s+requested|"
                  r"as\s+promised|if\s+that'?s?\s+(?:ok|okay|alright|fine)|just\s+in\s+case|which\s+means|"
                  r"but\s+|probably\s*,?|hopefully\s*,?|for\s+you\b(?=\s*[,.]?$)).*$", re.IGNORECASE)
_CONDITIONAL = re.compile(r"\b(?:if|unless|in\s+case|once\s+you)\b", re.IGNORECASE)
_PRONOUN_OBJ = re.compile(r"^(?P<verb>[a-z]+)\s+(?P<obj>it|that|this|them|both|those|these|one)\b(?P<rest>.*)$",
                          re.IGNORECASE)
_CLAUSES = re.compile(r"\s*(?:;|,\s*and\s+(?:then\s+)?|,\s*then\s+|,\s*but\s+|\.\s+)\s*", re.IGNORECASE)


@dataclass
class Commitment:
    item: str
    owner: str | None
    due_date: str | None
    quote: str            # the sentence it came from (verbatim)
    line_index: int

    def as_dict(self) -> dict:
        return {"item": self.item, "owner": self.owner, "due_date": self.due_date}


def _base(verb: str) -> str:
    v = verb.lower()
    if v in _IRREGULAR:
        return _IRREGULAR[v]
    for cand in ((v[:-3], v[:-4], v[:-3] + "e") if v.endswith("ing") else
                 (v[:-2], v[:-1], v[:-3]) if v.endswith("ed") else (v,)):
        if cand in VERBS:
            return cand
    return v[:-3] if v.endswith("ing") else v[:-2] if v.endswith("ed") else v


def _perspective(text: str, own: str | None, other: str | None) -> str:
    """First/second person -> roles: "send you my receipt" (customer) -> "send the agent their receipt"."""
    other_np = f"the {other}" if other else "them"
    own_np = f"the {own}" if own else "them"
    company = own == "agent"
    subs = [
        (r"\byour\b", f"{other_np}'s" if other else "their"), (r"\byourself\b", other_np), (r"\byou\b", other_np),
        (r"\bmy\b", "their"), (r"\bme\b", own_np), (r"\bmyself\b", "themselves"),
        (r"\bour\b", "the company's" if company else "their"), (r"\bus\b", "the company" if company else "them"),
        (r"\bwe\b", "the company" if company else "they"), (r"\bI\b", f"the {own}" if own else "they"),
    ]
    for pat, rep in subs:
        text = re.sub(pat, rep, text, flags=re.IGNORECASE)
    return text


_DANGLING = re.compile(r"(?:\s+(?:for|by|on|at|in|within|until|before|from|to|of|the|and|or|with|probably|"
                       r"hopefully|around|about))+$", re.IGNORECASE)


def _finish(clause: str) -> str:
    clause = re.sub(r"\s+", " ", clause).strip().rstrip(".!?,;:")
    clause = re.sub(r"\s+(?:too|as\s+well|also|for\s+you|for\s+them)$", "", clause, flags=re.IGNORECASE)
    clause = _DANGLING.sub("", clause.strip()).strip().rstrip(",")
    return clause[:1].upper() + clause[1:]


def _due_in(text: str) -> re.Match | None:
    for m in DUE.finditer(text):
        if not _DUE_ALONE_BAD.match(m.group(0)):
            return m
    return None


_AND_VERB = re.compile(r"\s+and\s+(?:then\s+)?(?=(?:" + "|".join(sorted(VERBS)) + r")\b)", re.IGNORECASE)
_SUBJECT = re.compile(r"^(.*?\b(?:i|we)(?:\s+will|'ll|\s+am\s+going\s+to|'m\s+going\s+to|\s+are\s+going\s+to|"
                      r"'re\s+going\s+to)\s+)", re.IGNORECASE)
_LEAD = re.compile(r"^(.*?\b(?:please|could\s+you|can\s+you|would\s+you)\s+)", re.IGNORECASE)


def _split_clauses(sentence: str) -> list[tuple[str, str]]:
    """(clause, its group) of a sentence; "I'll send X and book Y by Friday" -> "I'll send X", "I'll book Y by
    Friday" (the subject repeated), both with the group "I'll send X and book Y by Friday" (a shared due date)."""
    parts = [p for p in _CLAUSES.split(sentence) if p and p.strip()]
    out: list[tuple[str, str]] = []
    for p in parts:
        pieces = _AND_VERB.split(p)
        lead = _SUBJECT.match(pieces[0]) or _LEAD.match(pieces[0])
        if len(pieces) > 1 and lead:
            out.append((pieces[0], p))
            out.extend((lead.group(1) + q, p) for q in pieces[1:])
        else:
            out.append((p, p))
    return out


def _task(rest: str) -> str:
    """The clause after the commitment verb phrase, without trailing purpose/hedge clauses."""
    rest = _CUT.sub("", rest)
    return rest.strip()


def _commitment_in(clause: str) -> tuple[str, str] | None:
    """(verb-initial task text, kind) of a commitment clause, or None."""
    if clause.rstrip().endswith("?") or _HEDGE.search(clause):
        return None
    if m := DO_THAT.search(clause):
        return m.group(1), "do-that"
    if m := COMMIT.search(clause):
        task = _task(m.group(1))
        if hs := HAVE_SOMEONE.match(task):
            return f"send {hs.group(1)} {hs.group(2)}".strip(), "commit"
        verb = task.split(" ", 1)[0].lower() if task else ""
        if re.match(r"^let\s+\w+(?:\s+\w+)?\s+know\b", task, re.IGNORECASE):
            return task, "commit"
        if not task or verb in ("not", "never", "be", "have") or (verb in NON_ACTIONS
                                                                  and not _TASK_OBJECT.search(task)):
            return None
        return task, "commit"
    if m := PROGRESSIVE.search(clause):
        verb = _base(m.group(1))
        if verb in VERBS and verb not in ("go", "look", "talk", "speak", "ring", "phone", "call", "move", "check"):
            return _task(f"{verb}{m.group(2)}"), "commit"
    return None


def _accepted(lines: list[Line], i: int) -> Line | None:
    """The other party's next line, if it accepts (starts with "sure", "okay", "I'll ...")."""
    j = i + 1
    other_side = lines[i].speaker is None or lines[j].speaker != lines[i].speaker if j < len(lines) else False
    if other_side and ACCEPT.search(lines[j].text):
        return lines[j]
    return None


def _when_answer(lines: list[Line], i: int) -> str | None:
    """A due date from the exchange right after a commitment: the other side asks "when ...?" and gets a time."""
    reach = 1 if lines[i].speaker else 3  # unlabelled sentences: the exchange spans a few lines
    for j in range(i + 1, min(len(lines), i + 1 + reach)):
        other_side = lines[i].speaker is None or lines[j].speaker != lines[i].speaker
        if other_side and WHEN_Q.search(lines[j].text) and "?" in lines[j].text:
            for k in range(j + 1, min(len(lines), j + 1 + reach)):
                if (due := _due_in(lines[k].text)) is not None:
                    return due.group(0)
    return None


def _request_perspective(text: str, requester: str | None) -> str:
    """A request's task in the addressee's terms: "email us your letter" (agent) -> "email the company their letter"."""
    req_np = "the company" if requester == "agent" else f"the {requester}" if requester else "them"
    subs = [(r"\byour\b", "their"), (r"\byou\b", "themselves"), (r"\b(?:me|us)\b", req_np),
            (r"\b(?:my|our)\b", f"{req_np}'s")]
    for pat, rep in subs:
        text = re.sub(pat, rep, text, flags=re.IGNORECASE)
    return text


def _is_commitment_clause(clause: str, role: str | None) -> bool:
    return bool(_commitment_in(clause) or (role in ("agent", None) and (PASSIVE.search(clause)
                                                                         or YOU_RECEIVE.search(clause))))


def _object_of(item: str) -> str:
    """"Issue a hotel voucher and a meal voucher for tonight" -> "a hotel voucher and a meal voucher"."""
    obj = item.split(" ", 1)[1] if " " in item else ""
    return re.split(r"\s+(?:to|for|with|from|into|on|by|at|within|until)\s+", obj, maxsplit=1)[0]


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in _SMALL}


_SMALL = {"the", "and", "for", "with", "their", "customer", "agent", "company", "them", "this", "that", "they"}


def find_commitments(lines: list[Line]) -> list[Commitment]:
    found: list[Commitment] = []
    # line index of an accepting answer -> (the accepted request's task, already in role terms; its due date)
    accepted_requests: dict[int, list[tuple[str, str | None]]] = {}
    roles = speaker_roles(lines)
    distinct = sorted(set(roles.values()))
    guessed = guess_roles(lines) if not roles else [None] * len(lines)  # no labels: roles from the words

    def other_of(role: str | None) -> str | None:
        rest = [r for r in distinct if r != role]
        return rest[0] if role and len(distinct) == 2 and len(rest) == 1 else None

    for i, ln in enumerate(lines):
        role = roles.get(ln.speaker) if ln.speaker else guessed[i]
        other = other_of(role) if roles else {"agent": "customer", "customer": "agent"}.get(role or "")
        last_object: str | None = None
        for sentence in split_sentences(ln.text):
            clauses = _split_clauses(sentence)
            # a due date said in a clause of its own ("..., and it should arrive in five days") belongs to the
            # sentence's commitment; one inside another commitment's clause does not
            free_due = next((d for c, _ in clauses if not _is_commitment_clause(c, role) and (d := _due_in(c))), None)
            for clause, group in clauses:
                got = _commitment_in(clause)
                task: str | None = None
                kind = "commit"
                if got:
                    task, kind = got
                    if _CONDITIONAL.search(clause) and not _accepted(lines, i):
                        continue  # an offer nobody took up
                elif role in ("agent", None) and (m := PASSIVE.search(clause)):
                    verb = _base(m.group(2))
                    if verb in VERBS:
                        subject = m.group(1)
                        task = f"{verb} {subject[:1].lower()}{subject[1:]} {_task(m.group(3))}"
                        kind = "restated"
                elif role in ("agent", None) and (m := YOU_RECEIVE.search(clause)):
                    got_obj = _task(m.group(1))
                    money = MONEY_BACK.match(got_obj)
                    task = f"refund the money{money.group(1)}" if money else f"send {got_obj}"
                elif (m := REQUEST.search(clause)) and _base(m.group(1).split(" ", 1)[0]) in VERBS:
                    req_task = _task(m.group(1)).rstrip("?").strip()
                    accept = _accepted(lines, i)
                    if accept is not None and not _PRONOUN_OBJ.match(req_task):
                        due = _due_in(clause)
                        accepted_requests.setdefault(i + 1, []).append(
                            (_request_perspective(req_task, role), due.group(0) if due else None))
                    continue
                if not task:
                    continue
                requests = accepted_requests.get(i) or []
                pm = _PRONOUN_OBJ.match(task)
                verb0 = (pm.group("verb") if pm else task.split(" ", 1)[0]).lower()
                request = next((r for r in requests if r[0].split(" ", 1)[0].lower() == verb0),
                               requests[0] if requests else None)
                if kind == "do-that":
                    if not request:
                        continue
                    body, rest = request[0], task
                elif pm and (request or last_object):
                    obj = _object_of(request[0]) if request else last_object
                    body, rest = f"{pm.group('verb')} {obj}", pm.group("rest")
                else:
                    body, rest = "", task
                due_m = _due_in(rest) or _due_in(clause) or _due_in(group) or (free_due if not body else None)
                due = due_m.group(0) if due_m else None
                if due is None and request:
                    due = request[1]
                if due is None:
                    due = _when_answer(lines, i)
                if due_m:
                    rest = rest.replace(due_m.group(0), " ")
                rest = _perspective(rest, role, other) if kind != "do-that" else ""
                item = _finish(f"{body} {rest}".strip())
                if len(item.split()) < 2:
                    continue
                last_object = _object_of(item) or last_object
                same = [c for c in found if c.owner == role and _stems(_object_of(item)) and
                        _stems(_object_of(item)) <= _stems(c.item) and
                        (kind == "restated" or c.item.split(" ", 1)[0].lower() == item.split(" ", 1)[0].lower())]
                if same:  # the same task said again ("the booster will be dispatched tomorrow")
                    same[0].due_date = same[0].due_date or due
                    continue
                found.append(Commitment(item, role, due, sentence, i))
    return found


def extract_action_items(lines: list[Line]) -> list[dict]:
    return [c.as_dict() for c in find_commitments(lines)]


def format_bullets(items: list[Commitment], style: str = "-") -> str:
    """Bullet points: "- Refund the duplicate payment (owner: agent, due: today)"."""
    if not items:
        return f"{style} No action items: nobody on the call committed to a follow-up."
    out = []
    for c in items:
        meta = [f"owner: {c.owner}"] if c.owner else []
        if c.due_date:
            meta.append(f"due: {c.due_date}")
        out.append(f"{style} {c.item}" + (f" ({', '.join(meta)})" if meta else ""))
    return "\n".join(out)


def speakers_of(lines: list[Line]) -> list[str]:
    return speakers(lines)
