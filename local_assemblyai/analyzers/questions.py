"""Answers to questions about a call, by the kind of question (no LLM):

* yes/no questions ("Did the agent offer a refund?", answer format "<yes or no> <reason>") -> `yes_no()`:
  the question's subject (agent / customer / anyone) picks whose lines count; the predicate is matched
  against call-centre concepts (escalation to a supervisor, refund, apology, cancellation, retention,
  appointment, identity check, competitor, discount or credit, next step, satisfaction) with evidence
  phrases, negation and conditionals taken into account, else by the overlap of its content words with a
  sentence. The answer is yes with the evidence sentence as the verbatim quote, or no with an empty quote.
* sentiment questions -> the sentiment analyzer (sentiment.py); quote questions -> its quote choice;
* other questions (what / which / why / how) -> the target speaker's sentence closest to the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .action_items import ACCEPT, find_commitments
from .common import guess_roles, speaker_roles, split_sentences
from .prompt_kinds import is_yes_no
from .sentiment import answer_question as sentiment_answer
from .sentiment import score_lines

AGENT_WORDS = r"agent|representative|rep|advisor|adviser|employee|operator|staff|salesperson|seller"
CUSTOMER_WORDS = r"customer|caller|client|consumer|prospect|member|patient|buyer|user|guest"
_ROLE_ALIASES = {"agent": {"agent"}, "customer": {"customer", "prospect", "caller", "client", "member", "patient"}}
_NEG = re.compile(r"\b(?:not|no|never|don't|doesn't|didn't|won't|can't|cannot|isn't|wasn't|aren't|unable|"
                  r"nothing|neither|nor)\b", re.IGNORECASE)
_COND = re.compile(r"^\s*(?:if|unless)\b|\b(?:if|unless)\s+(?:this|that|it|you|they|i|we)\b", re.IGNORECASE)
_AGENT_ACTS = re.compile(r"\b(?:offer(?:ed)?|provid(?:e|ed)|issu(?:e|ed)|promis(?:e|ed)|apologi[sz](?:e|ed)|"
                         r"verif(?:y|ied)|authenticat(?:e|ed)|escalat(?:e|ed)|transferr?(?:ed)?|schedul(?:e|ed)|"
                         r"book(?:ed)?|waiv(?:e|ed)|refund(?:ed)?)\b", re.IGNORECASE)
_ASKING = re.compile(r"\b(?:want|wanna|like|need|ask(?:ing)?|speak|talk|get|put\s+me|transfer|let\s+me|"
                     r"demand|request)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Concept:
    name: str
    trigger: re.Pattern      # matched against the question's predicate
    evidence: re.Pattern     # matched against a sentence of the subject (or anyone)
    anyone: bool = False     # evidence may come from either speaker
    negatable: bool = True


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


CONCEPTS = [
    Concept("escalation", _rx(r"supervisor|manager|escalat|team\s+lead|someone\s+senior|higher\s+up|boss"),
            _rx(r"\b(?:supervisor|manager|team\s+leader|someone\s+(?:senior|in\s+charge|else)|your\s+boss|"
                r"escalat\w*)\b")),
    Concept("refund", _rx(r"refund|reimburs|money\s+back|repay"),
            _rx(r"\b(?:refund\w*|reimburs\w*|money\s+back|pay\s+(?:you|it|that)\s+back|repa(?:y|id)|"
                r"(?:put|credit)\w*\s+(?:[\w-]+\s+){0,6}back\s+(?:into|on|to)\b)")),
    Concept("apology", _rx(r"apolog|sorry|regret"),
            _rx(r"\b(?:sorry|apologi[sz]\w*|apologies|regret\s+(?:the|that))\b"), negatable=False),
    Concept("cancel", _rx(r"cancel|terminat|close\s+(?:their|the|his|her|an?)\s+account|leave|quit|switch\s+provider"),
            _rx(r"\b(?:cancel\w*|terminat\w*|close\s+(?:my|the|our)\s+account|end\s+(?:my|the|our)\s+"
                r"(?:contract|subscription|membership|plan)|leav(?:e|ing)\s+(?:you|now)|planning\s+to\s+switch|"
                r"switch(?:ing)?\s+(?:to\s+\w+|provider|over)|quit(?:ting)?|close\s+(?:my|the|our)\s+\w+\s+account)\b")),
    Concept("appointment", _rx(r"appointment|visit|technician|engineer|meeting|demo|booked|schedul|onboarding"),
            _rx(r"\b(?:appointment|visit|technician|engineer|onboarding\s+call|meeting|demo|site\s+survey|"
                r"consultation|lesson|session|class|viewing|inspection|fitting|check-up|survey)\b"), anyone=True),
    Concept("identity", _rx(r"verif|identit|authenticat|security\s+(?:check|question)|confirm\w*\s+(?:who|their)"),
            _rx(r"\b(?:date\s+of\s+birth|last\s+(?:four|4)\s+digits|post\s*code|zip\s+code|account\s+number|"
                r"policy\s+number|booking\s+reference|reference\s+number|member(?:ship)?\s+number|"
                r"security\s+(?:question|check)|verif\w*|first\s+line\s+of\s+(?:your|the)\s+address|"
                r"email\s+on\s+the\s+account|confirm\s+(?:your|the)\s+(?:name|address|email|identity|account|"
                r"date|phone|number)|(?:get|have|take)\s+(?:your|the)\s+name|who\s+(?:do\s+i\s+have|am\s+i\s+speaking)|"
                r"name\s+on\s+the\s+(?:account|order|booking|policy))\b")),
    Concept("competitor", _rx(r"competitor|rival|another\s+(?:provider|company|supplier)|other\s+provider"),
            _rx(r"\b(?:competitors?|another\s+(?:provider|company|supplier|bank|carrier|network|gym|firm|shop|store)"
                r"|other\s+(?:providers?|companies|suppliers?)|switch(?:ing)?\s+to|quoted\s+(?:us|me)|"
                r"(?:is|are)\s+offering\s+(?:me|us)|offered\s+me|cheaper\s+(?:with|at|elsewhere|deal)|"
                r"down\s+the\s+road|elsewhere|go\s+with\s+(?:someone|another))\b")),
    Concept("discount", _rx(r"discount|credit|cheaper|price\s+reduction|reduc|waive|better\s+(?:deal|price)|lower"),
            _rx(r"\b(?:discount\w*|\d+\s*percent|(?:ten|fifteen|twenty|five|fifty)\s+percent|percent\s+off|"
                r"credit\s+(?:of|your|to|the)|(?:a|temporary)\s+credit|loyalty\s+(?:plan|discount|offer|rate)|"
                r"waiv\w*|no\s+charge|free\s+of\s+charge|(?:reduced|lower|special)\s+(?:price|rate|fee|plan)|"
                r"price\s+match\w*|half\s+price|money\s+off|knock\w*\s+(?:[\w']+\s+){0,6}off|"
                r"take\s+(?:[\w']+\s+){0,6}off\s+(?:your|the)\s+bill)\b")),
]
_RETAIN = _rx(r"retain|kept\s+(?:as\s+)?(?:a\s+)?customer|stay(?:ed)?\s+(?:with|on)|saved|churn")
_STAY = _rx(r"\b(?:i'll\s+stay|i\s+will\s+stay|we'll\s+stay|stay\s+with\s+you|i'll\s+keep\s+(?:my|the|it)|"
            r"keep\s+my\s+(?:membership|account|plan|contract|subscription|policy|service)|"
            r"(?:not|won't|don't)\s+(?:going\s+to\s+)?cancel|hold\s+off\s+on\s+cancel\w*|"
            r"thanks?\s+(?:you\s+)?for\s+staying|glad\s+(?:to\s+hear\s+)?you(?:'re|\s+are)\s+staying|"
            r"i'll\s+take\s+(?:the|that|this)\s+(?:offer|deal|plan)|in\s+that\s+case\s+i'll\s+\w+)\b")
_LEFT = _rx(r"\b(?:cancellation\s+(?:is|has\s+been)\s+(?:confirmed|processed|complete\w*|done)|"
            r"(?:i've|i\s+have|we've|we\s+have)\s+(?:cancelled|closed|processed\s+(?:the|your)\s+cancellation)|"
            r"still\s+want\s+to\s+cancel|go\s+ahead\s+(?:and|with)\s+(?:the\s+)?cancel\w*|"
            r"(?:account|policy|contract|membership)\s+(?:is|has\s+been|will\s+be)\s+(?:closed|cancelled|terminated)|"
            r"set\s+the\s+cancellation|cancel\w*\s+(?:is\s+)?(?:confirmed|effective))\b")
_CONDITIONAL_COMMIT = _rx(r"\b(?:if|unless|in\s+case|once)\s+(?:we|i|they|you|it|that)\b")
_NEXT_STEP = _rx(r"next\s+step|follow[\s-]?up|call\s*back|agree\w*\s+(?:on\s+)?(?:a|the)\s+(?:plan|action)|commit")
_SATISFIED = _rx(r"satisf|happy|pleased|content|delighted|positive|glad")
_UNHAPPY = _rx(r"dissatisf|unhappy|frustrat|upset|angry|annoyed|irritat|negative|disappoint")
_SENTIMENT_Q = _rx(r"sentiment|feel|mood|tone|attitude|emotion|satisf|happy|upset|frustrat|interest|enthusias|"
                   r"tempera|polite|friendl")
_QUOTE_Q = _rx(r"\bquote\b|\bverbatim\b|\bexact\s+words\b")
_STOP = set("""did does do was were is are has have had will would can could should the a an to of and or in on for
with at by from about any their his her its this that call during it they them there be been being ask asked
during call conversation""".split())


@dataclass
class Answer:
    answer: str
    reason: str
    quote: str
    yes_no: str | None = None   # "yes" / "no" for yes/no questions


def _subject(question: str) -> tuple[str | None, str]:
    """(role, predicate): "Did the agent offer a refund?" -> ("agent", "offer a refund")."""
    q = question.strip().rstrip("?").strip()
    m = re.match(rf"^(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|should)\s+(?:the\s+)?"
                 rf"({AGENT_WORDS}|{CUSTOMER_WORDS})(?:'s)?\b\s*(.*)$", q, re.IGNORECASE)
    if m and not re.match(rf"^(?:\w+\s+){{1,2}}(?:the\s+)?(?:{AGENT_WORDS}|{CUSTOMER_WORDS})'s\b", q, re.IGNORECASE):
        word = m.group(1).lower()
        role = "agent" if re.fullmatch(AGENT_WORDS, word) else "customer"
        return role, m.group(2)
    m = re.match(r"^(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|should)\s+(.*)$", q,
                 re.IGNORECASE)
    rest = m.group(1) if m else q
    if re.search(rf"\b(?:{AGENT_WORDS})\b", rest, re.IGNORECASE) and not re.search(
            rf"\b(?:{CUSTOMER_WORDS})\b", rest, re.IGNORECASE):
        return "agent", rest
    if _AGENT_ACTS.search(rest):  # "Was a refund offered?", "Was the customer's identity verified?": the agent's act
        return "agent", rest
    return None, rest


def line_roles(lines: list[Line]) -> list[str | None]:
    """Each line's role: from its speaker label, or guessed from its words when the transcript has none."""
    if not any(ln.speaker for ln in lines):
        return guess_roles(lines)
    roles = speaker_roles(lines)
    return [roles.get(ln.speaker or "") for ln in lines]


def _pool(lines: list[Line], role: str | None) -> list[Line]:
    if role is None:
        return lines
    wanted = _ROLE_ALIASES.get(role, {role})
    if not any(ln.speaker for ln in lines):
        wanted = wanted | {None}  # guessed roles: keep the lines nobody can tell apart
    chosen = [ln for ln, r in zip(lines, line_roles(lines), strict=True) if r in wanted]
    return chosen or lines


def _sentences(lines: list[Line]) -> list[tuple[Line, str]]:
    return [(ln, s) for ln in lines for s in split_sentences(ln.text)]


def _negated(sentence: str, match: re.Match) -> bool:
    before = re.sub(r"\bwhy\s+(?:don't|not)\s+(?:we|you|i)\b", " ", sentence[:match.start()], flags=re.IGNORECASE)
    clause = re.split(r"[,;]|\bbut\b", before)[-1]
    return bool(_NEG.search(clause)) and len(clause.split()) <= 8


def _who(role: str | None) -> str:
    return f"the {role}" if role else "anyone on the call"


def _yes(quote: str, role: str | None, line: Line, lines: list[Line]) -> Answer:
    speaker = line_roles(lines)[lines.index(line)] or role or "a speaker"
    return Answer("Yes.", f'The {speaker} said: "{quote}"', quote, "yes")


def _no(reason: str) -> Answer:
    return Answer("No.", reason, "", "no")


def _content(text: str) -> set[str]:
    out = set()
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in _STOP or len(w) < 3:
            continue
        out.add(w[:5])
    return out


def yes_no(question: str, lines: list[Line], encoder: MiniLMEncoder | None = None) -> Answer:
    role, predicate = _subject(question)
    if not lines:
        return _no("The transcript is empty.")
    threaten = bool(re.search(r"threat|mention|say|said|talk\s+about|bring\s+up|raise", predicate, re.IGNORECASE))
    if _RETAIN.search(predicate):
        return _retained(lines)
    if _NEXT_STEP.search(predicate):
        return _next_step(lines, role)
    if _SATISFIED.search(predicate) or _UNHAPPY.search(predicate):
        if not any(c.trigger.search(predicate) for c in CONCEPTS):
            return _satisfaction(question, predicate, lines, encoder)
    for concept in CONCEPTS:
        if not concept.trigger.search(predicate):
            continue
        pool = lines if concept.anyone else _pool(lines, role)
        for ln, sentence in _sentences(pool):
            if sentence.rstrip().endswith("?") and concept.name not in ("identity", "escalation"):
                nxt = lines.index(ln) + 1
                proposal_taken = (concept.name == "appointment" and nxt < len(lines)
                                  and (ln.speaker is None or lines[nxt].speaker != ln.speaker)
                                  and ACCEPT.search(lines[nxt].text))
                if not proposal_taken:
                    continue  # asking about a refund is not offering one; "shall we meet Thursday?" + "yes" is
            m = concept.evidence.search(sentence)
            if not m or (concept.negatable and _negated(sentence, m)):
                continue
            if concept.name == "escalation" and role == "customer" and not (_ASKING.search(sentence) or threaten):
                continue
            if _COND.search(sentence) and not threaten and concept.name == "escalation":
                continue  # "if this isn't fixed I'm going to ask your manager" is not asking yet (an offer "if
                # you book" is still an offer)
            if concept.name == "appointment" and not re.search(
                    r"\b(?:book\w*|schedul\w*|arrang\w*|set\s+up|come|confirm\w*|slot|(?:on|this|next)\s+\w+day|"
                    r"at\s+\w+|out\s+to)\b", sentence, re.IGNORECASE):
                continue
            return _yes(sentence, role, ln, lines)
        if concept.name == "competitor" and (named := named_competitor(lines, pool)):
            return _yes(named[1], role, named[0], lines)
        return _no(f"Nothing {_who(role)} said in the call shows this.")
    return _generic(predicate, role, lines, encoder)


_NOT_BRANDS = set("""I I'm I'll I've I'd Mr Mrs Ms Dr Monday Tuesday Wednesday Thursday Friday Saturday Sunday January
February March April May June July August September October November December OK Okay Hi Hello Yes No""".split())
_OWN_NAME = _rx(r"\b(?:this\s+is\s+\w+\s+(?:from|at)|calling\s+from|you've\s+reached|welcome\s+to|thanks?\s+(?:you\s+)?"
               r"for\s+calling|speaking)\b")
_COMMON = set("""there the this that these those it its we they he she you i and but so if when what how why where which
who here then now well yes no okay our my your their his her a an in on at for from with as all any some""".split())
_BRAND_CONTEXT = _rx(r"\b(?:charg\w*|cheaper|price|prices|offer\w*|quot\w*|deal|uses|use|pay|costs?|switch\w*|"
                     r"better|with|from)\b")


def named_competitor(lines: list[Line], pool: list[Line]) -> tuple[Line, str] | None:
    """A customer sentence naming another company in a price/offer context ("Monzo doesn't charge anything"):
    a capitalised name that nobody on the agent's side says and that is not a person introduced on the call."""
    # the agent's side's names: what the agent says, and the call's opening and self-introductions
    own = [ln for i, (ln, r) in enumerate(zip(lines, line_roles(lines), strict=True))
           if r == "agent" or i < 2 or _OWN_NAME.search(ln.text)]
    agent_words = {w for ln in own for w in re.findall(r"[A-Z][A-Za-z]+", ln.text)}
    people = {w for ln in lines for m in re.finditer(r"(?i:this\s+is|my\s+name(?:'s|\s+is)|i'm|it's|speaking\s+to|"
                                                     r"with)\s+([A-Z][a-z]+)(?:\s+([A-Z][a-z]+))?", ln.text)
              for w in m.groups() if w}
    for ln in pool:
        for s in split_sentences(ln.text):
            if not _BRAND_CONTEXT.search(s):
                continue
            tokens = list(re.finditer(r"\b[A-Z][A-Za-z]+\b", s))
            for t in tokens:
                word = t.group(0)
                initial = t.start() == len(s) - len(s.lstrip())
                after = s[t.end():].split()[:1]
                if initial and (word.lower() in _COMMON or not (after and after[0].lower() in (
                        "is", "are", "offers", "offered", "quoted", "charges", "doesn't", "does", "has", "gives"))):
                    continue
                if word in _NOT_BRANDS or word in agent_words or word in people:
                    continue
                return ln, s
    return None


def _retained(lines: list[Line]) -> Answer:
    cancel = next(c for c in CONCEPTS if c.name == "cancel")
    customer = _pool(lines, "customer")
    intent = [(ln, s) for ln, s in _sentences(customer) if (m := cancel.evidence.search(s)) and not _negated(s, m)]
    if not intent:
        return Answer("Yes.", "The customer never asked to cancel or leave.", "", "yes")
    first = lines.index(intent[0][0])
    after = _sentences(lines[first:])
    left = [(ln, s) for ln, s in after if _LEFT.search(s)]
    stayed = [(ln, s) for ln, s in after if _STAY.search(s)]
    if stayed and (not left or lines.index(stayed[-1][0]) > lines.index(left[-1][0])):
        return _yes(stayed[-1][1], None, stayed[-1][0], lines)
    if left:
        return _no(f'The cancellation went ahead: "{left[-1][1]}"')
    return _no(f'The customer asked to leave ("{intent[0][1]}") and did not agree to stay.')


def _next_step(lines: list[Line], role: str | None) -> Answer:
    labelled = any(ln.speaker for ln in lines)
    items = [c for c in find_commitments(lines)
             if role is None or (c.owner in _ROLE_ALIASES.get(role, {role})) or (not labelled and c.owner is None)]
    items = [c for c in items if not _CONDITIONAL_COMMIT.search(c.quote)]  # "I'll email you if we decide": not yet
    concrete = [c for c in items if c.due_date] or items
    if concrete:
        c = concrete[0]
        due = f" ({c.due_date})" if c.due_date else ""
        return Answer("Yes.", f"Agreed: {c.item}{due}.", c.quote, "yes")
    return _no(f"No commitment by {_who(role)} to a follow-up was made in the call.")


def _satisfaction(question: str, predicate: str, lines: list[Line], encoder: MiniLMEncoder | None) -> Answer:
    if encoder is None:
        return _generic(predicate, None, lines, encoder)
    res = sentiment_answer(question, score_lines(lines, encoder), encoder)
    label = res["answer"].split(":")[0].lower()
    wanted = "negative" if _UNHAPPY.search(predicate) else "positive"
    if label == wanted:
        return Answer("Yes.", res["answer"].split(": ", 1)[-1], res["quote"], "yes")
    return Answer("No.", f"The sentiment was {label}: " + res["answer"].split(": ", 1)[-1], res["quote"], "no")


def _generic(predicate: str, role: str | None, lines: list[Line], encoder: MiniLMEncoder | None) -> Answer:
    """No concept: the sentence of the subject that covers most of the predicate's content words."""
    want = _content(predicate)
    if not want:
        return _no("The question has nothing to look for in the transcript.")
    best, best_score = None, 0.0
    for ln, s in _sentences(_pool(lines, role)):
        if s.rstrip().endswith("?"):
            continue
        score = len(want & _content(s)) / len(want)
        if score > best_score and not _NEG.search(s):
            best, best_score = (ln, s), score
    if best and best_score >= 0.6:
        return _yes(best[1], role, best[0], lines)
    return _no(f"Nothing {_who(role)} said in the call shows this.")


def answer(question: str, lines: list[Line], encoder: MiniLMEncoder, answer_format: str | None = None) -> Answer:
    """Any question, by its kind."""
    if is_yes_no(question, answer_format) and not (_QUOTE_Q.search(question)):
        return yes_no(question, lines, encoder)
    if _SENTIMENT_Q.search(question) or _QUOTE_Q.search(question):
        res = sentiment_answer(question, score_lines(lines, encoder), encoder)
        if _QUOTE_Q.search(question):
            return Answer(f'"{res["quote"]}"', res["reason"], res["quote"])
        head, _, rest = res["answer"].partition(": ")
        text = rest[:1].upper() + rest[1:] if rest else head
        return Answer(text.rstrip(".") + ".", _sentiment_reason(res), res["quote"])
    return _closest(question, lines, encoder)


def _sentiment_reason(res: dict) -> str:
    counts = re.match(r"(\d+) positive, (\d+) neutral and (\d+) negative", res["reason"])
    tally = (f"{counts.group(1)} positive, {counts.group(2)} neutral and {counts.group(3)} negative lines"
             if counts else "the lines' sentiment")
    return f'Across {tally}, the clearest one is "{res["quote"]}"'


def _closest(question: str, lines: list[Line], encoder: MiniLMEncoder) -> Answer:
    role, _ = _subject(question)
    if role is None:
        low = question.lower()
        role = "customer" if re.search(rf"\b(?:{CUSTOMER_WORDS})\b", low) else (
            "agent" if re.search(rf"\b(?:{AGENT_WORDS})\b", low) else None)
    pool = [(ln, s) for ln, s in _sentences(_pool(lines, role)) if len(s.split()) >= 4] or _sentences(lines)
    if not pool:
        return Answer("The transcript is empty.", "There is nothing to answer from.", "")
    emb = encoder.encode([s for _, s in pool])
    q = encoder.encode([question])[0]
    i = int((emb @ q).argmax())
    ln, s = pool[i]
    who = line_roles(lines)[lines.index(ln)] or "a speaker"
    return Answer(f'The {who} said: "{s}"', f"This is the {who}'s sentence closest in meaning to the question.", s)
