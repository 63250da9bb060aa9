"""Call phases by ordered segmentation (centred monotonic DP over per-line phase scores).

S[i, k] = similarity of line i to phase k, centred per phase over the call (so a phase that is close to
everything cannot swallow the call), where the similarity is the mean of the line's two best cosines to the
phase's anchor sentences (MiniLM) plus a bonus for the phase's cue phrases, smoothed with the neighbouring
lines. Phase names are mapped to a canonical type (introduction/greeting/opening, complaint/problem/issue,
discovery, pitch, objections, resolution/solution, goodbye/closing, close); an unknown name is represented by
its own words. A dynamic program picks non-decreasing phase labels that start in the first phase and end in
the last (when there are enough lines), maximising the summed score. Phases are therefore ordered,
contiguous and cover the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .common import format_line


@dataclass(frozen=True)
class PhaseType:
    names: tuple[str, ...]
    anchors: tuple[str, ...]
    cues: re.Pattern


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


# Generic descriptions and cue phrases, written for any support or sales call (not copied from sample scripts).
PHASE_TYPES: dict[str, PhaseType] = {
    "opening": PhaseType(
        ("introduction", "intro", "greeting", "greetings", "opening", "welcome"),
        ("Thank you for calling, my name is Sam, how can I help you today?",
         "Hi, this is Alex from the support team.",
         "Can I have your name and account number, please?",
         "For security, can you confirm your date of birth?",
         "Hello, my name is Jordan and I am calling about my account."),
        _rx(r"\b(?:thanks?\s+(?:you\s+)?for\s+(?:calling|holding)|welcome\s+to|you've\s+reached|speaking\b|"
            r"my\s+name\s+is|this\s+is\s+\w+|how\s+(?:can|may)\s+i\s+(?:help|assist)|what\s+can\s+i\s+do\s+for\s+you|"
            r"who\s+(?:do\s+i\s+have|am\s+i\s+speaking)|am\s+i\s+speaking\s+with|date\s+of\s+birth|"
            r"account\s+number|post\s*code|zip\s+code|reference|member\s+number|verif\w*|security|"
            r"confirm\s+(?:your|the)\s+(?:name|address|account|email|first\s+line)|good\s+time|returning\s+your\s+call|"
            r"calling\s+from|(?:hi|hello|hey|good\s+(?:morning|afternoon|evening))\b)")),
    "problem": PhaseType(
        ("complaint", "complaints", "problem", "problems", "issue", "issues", "reason for call", "reason for calling",
         "inquiry", "enquiry", "request", "concern"),
        ("My internet stopped working and it keeps dropping out.",
         "I was charged twice this month and I am really frustrated.",
         "The product arrived broken and nobody has helped me.",
         "This is unacceptable, I have been waiting for weeks.",
         "When exactly does the problem happen?"),
        _rx(r"\b(?:problem|issue|not\s+working|doesn't\s+work|won't|stopped|error|charged|overcharg\w*|twice|"
            r"wrong|broken|delayed|missed|frustrat\w*|angry|ridiculous|unacceptable|terrible|worst|disappoint\w*|"
            r"complain\w*|don't\s+understand|never\s+(?:made|received|arrived)|fault|fraud|stuck|urgent|"
            r"can't|cannot|keeps|still\s+(?:not|hasn't)|went\s+up|too\s+expensive|out\s+of\s+date|"
            r"what\s+(?:seems\s+to\s+be|happened)|what's\s+going\s+on|when\s+(?:exactly|did))\b")),
    "verification": PhaseType(
        ("verification", "identification", "identity check", "security", "authentication", "account verification"),
        ("Can you confirm your date of birth and the first line of your address?",
         "For security, what is the account number?", "Thank you, you are verified.",
         "It's March the third, nineteen eighty."),
        _rx(r"\b(?:date\s+of\s+birth|account\s+number|post\s*code|zip\s+code|reference|member\s+number|verif\w*|"
            r"security|confirm\s+(?:your|the)\s+(?:name|address|account|email|first\s+line|identity)|"
            r"last\s+(?:four|4)\s+digits|policy\s+number)\b")),
    "troubleshooting": PhaseType(
        ("troubleshooting", "diagnosis", "diagnostics", "investigation", "fact finding", "fact-finding"),
        ("Have you tried restarting the router?", "Let me run a line test on your connection.",
         "Can you check whether the light on the box is green?", "I can see an error on our side."),
        _rx(r"\b(?:have\s+you\s+tried|restart\w*|reset\w*|let\s+me\s+(?:check|run|look|see)|test|i\s+can\s+see|"
            r"can\s+you\s+(?:check|try|see)|error|light|log\s+in|settings)\b")),
    "discovery": PhaseType(
        ("discovery", "needs analysis", "needs assessment", "qualification", "questions"),
        ("How does your team handle this at the moment?", "How many customers do you have each month?",
         "What are you using today, and what does it cost you?", "Tell me a bit about your business."),
        _rx(r"\b(?:at\s+the\s+moment|currently|today|how\s+(?:many|much|often|does|do)|what\s+(?:do|does)\s+you|"
            r"tell\s+me\s+about|each\s+month|typical|roughly|mostly)\b")),
    "pitch": PhaseType(
        ("pitch", "presentation", "demo", "demonstration", "proposal", "offer", "value proposition", "product"),
        ("Our product would do this for you automatically.", "Customers like you usually save a lot of money.",
         "That would pay for itself in a year.", "With our plan you get twice the features."),
        _rx(r"\b(?:would|could)\s+(?:pull|save|cover|give|help|let|pay|cut|reduce)|\bour\s+(?:product|system|plan|"
            r"service|platform|solution)|\busually\s+see|\bpay\s+for\s+itself|\bgood\s+fit|\bteams?\s+(?:like|your)")),
    "objections": PhaseType(
        ("objections", "objection", "objection handling", "concerns", "negotiation", "hesitation"),
        ("It sounds good, but the price worries me.", "I am not sure this is right for us.",
         "Another company quoted us less.", "That is a fair point, let me address that concern."),
        _rx(r"\b(?:but\s+the\s+price|worr\w*|concern\w*|not\s+sure|expensive|too\s+(?:long|much|expensive)|"
            r"quoted|cheaper|don't\s+want|afraid|hesitant|fair\s+point|understood|i\s+hear\s+you)\b")),
    "resolution": PhaseType(
        ("resolution", "solution", "solutions", "fix", "resolve", "next steps", "outcome", "remedy", "settlement"),
        ("Here is what I can do for you: I will refund the payment today.",
         "I have booked a technician for Thursday morning.",
         "I can offer you a discount and a credit on your next bill.",
         "Your replacement will arrive within five business days.",
         "That works for me, thank you."),
        _rx(r"\b(?:here(?:'s|\s+is)\s+(?:what|the\s+plan)|i\s+can\s+(?:offer|give|move|set|do|fix|send)|i'll|i\s+will|"
            r"i'm\s+(?:going\s+to|also|issuing|refunding|adding|arranging|sending|booking)|we'll|we\s+will|"
            r"i've\s+(?:applied|found|booked|issued|processed|arranged|added)|good\s+news|refund\w*|credit|"
            r"discount|replacement|book(?:ed)?|schedul\w*|fixed|works\s+now|resolved|voucher|engineer|technician|"
            r"should\s+(?:appear|arrive)|business\s+days|covered|confirmed)\b")),
    "goodbye": PhaseType(
        ("goodbye", "closing", "wrap-up", "wrap up", "farewell", "conclusion", "end", "ending", "sign-off",
         "end of call"),
        ("Is there anything else I can help you with today?", "No, that's everything, thank you.",
         "Have a great day, goodbye.", "Thanks for calling, take care."),
        _rx(r"\b(?:anything\s+else|that's\s+(?:all|it|everything)|that\s+covers|have\s+a\s+(?:good|great|nice|"
            r"wonderful|lovely)|take\s+care|good\s*bye|bye|thanks?\s+for\s+(?:calling|your\s+(?:patience|time|help))|"
            r"glad\s+i\s+could\s+help|safe\s+travels|good\s+luck|feel\s+better|enjoy|you're\s+(?:very\s+)?welcome|"
            r"my\s+pleasure|you\s+too|cheers|thanks?\s+(?:you\s+)?for\s+\w+ing\s+(?:with\s+)?us)\b")),
    "close": PhaseType(
        ("close", "closing the sale", "call to action", "commitment", "agreement", "decision"),
        ("How about we start a free trial today?", "Shall I send you the contract?",
         "Great, I will send the invitation this afternoon.", "I need to think about it first."),
        _rx(r"\b(?:trial|sign\s+up|go\s+ahead|next\s+step|shall\s+i|how\s+about|let's|send\s+(?:you|the)|"
            r"think\s+about\s+it|call\s+you\s+back|decide|contract|i'll\s+send|book\s+an?)\b")),
}
_NAME_INDEX = {n: key for key, t in PHASE_TYPES.items() for n in t.names}
CUE_WEIGHT = 0.08
NEIGHBOUR_WEIGHT = 0.1
SHORT_REPLY_WORDS = 7


def phase_type(name: str, all_names: list[str]) -> PhaseType | None:
    low = name.strip().lower()
    key = _NAME_INDEX.get(low)
    if key == "close" and not any(_NAME_INDEX.get(n.lower()) in ("goodbye",) for n in all_names):
        # "Close" in a list without a separate goodbye phase: the sales close, ending with the goodbye
        return PhaseType(PHASE_TYPES["close"].names, PHASE_TYPES["close"].anchors + PHASE_TYPES["goodbye"].anchors,
                         _rx(PHASE_TYPES["close"].cues.pattern + "|" + PHASE_TYPES["goodbye"].cues.pattern))
    if key is None:
        for n, k in _NAME_INDEX.items():
            if re.search(rf"\b{re.escape(n)}\b", low):
                key = k
                break
    return PHASE_TYPES.get(key) if key else None


def prototype_for(name: str) -> str:
    t = phase_type(name, [name])
    return " ".join(t.anchors) if t else f"This part of the call is the {name}."


def phase_scores(lines: list[Line], names: list[str], encoder: MiniLMEncoder) -> np.ndarray:
    """S[i, k]: centred, smoothed similarity of line i to phase k (anchors + cue phrases)."""
    emb = encoder.encode([ln.text for ln in lines])
    cols = []
    for name in names:
        t = phase_type(name, names)
        anchors = list(t.anchors) if t else [f"This part of the call is the {name}.", name]
        a = encoder.encode(anchors)
        sims = emb @ a.T
        top = np.sort(sims, axis=1)[:, -2:] if sims.shape[1] > 1 else sims
        col = top.mean(axis=1)
        if t:
            col = col + CUE_WEIGHT * np.array([min(2, len(t.cues.findall(ln.text))) for ln in lines])
        cols.append(col)
    sim = np.stack(cols, axis=1)
    sim = sim - sim.mean(axis=0, keepdims=True)
    # a short reply ("C F ten, two B B.", "Okay.") says little by itself: it mostly continues the line it answers
    for i in range(1, len(lines)):
        own = min(1.0, len(lines[i].text.split()) / SHORT_REPLY_WORDS)
        sim[i] = own * sim[i] + (1 - own) * sim[i - 1]
    if len(lines) > 2:
        padded = np.vstack([sim[:1], sim, sim[-1:]])
        sim = (1 - NEIGHBOUR_WEIGHT) * sim + NEIGHBOUR_WEIGHT / 2 * (padded[:-2] + padded[2:])
    return sim


def monotonic_labels(scores: np.ndarray, force_ends: bool = True, no_skip: bool = False) -> list[int]:
    """argmax over non-decreasing label sequences of sum(scores[i, label_i]); with `no_skip` the
    label advances by at most one per line (every phase is visited)."""
    n, k = scores.shape
    if n == 0:
        return []
    neg = -1e18
    best = np.full((n, k), neg)
    back = np.zeros((n, k), dtype=int)
    best[0] = scores[0] if not force_ends else np.where(np.arange(k) == 0, scores[0], neg)
    for i in range(1, n):
        run_max = np.empty(k)
        run_arg = np.zeros(k, dtype=int)
        arg = 0
        for j in range(k):
            if no_skip:
                arg = j if j == 0 or best[i - 1, j] >= best[i - 1, j - 1] else j - 1
            elif best[i - 1, j] >= best[i - 1, arg]:
                arg = j
            run_arg[j] = arg
            run_max[j] = best[i - 1, arg]
        best[i] = run_max + scores[i]
        back[i] = run_arg
    last = k - 1 if force_ends else int(np.argmax(best[-1]))
    labels = [last]
    for i in range(n - 1, 0, -1):
        labels.append(int(back[i, labels[-1]]))
    return labels[::-1]


def _summary(lines: list[Line], emb: np.ndarray, max_lines: int = 2) -> str:
    """Extractive: the most central line(s) of the phase, in time order."""
    if len(lines) <= max_lines:
        chosen = list(range(len(lines)))
    else:
        centrality = (emb @ emb.T).mean(axis=1)
        chosen = sorted(np.argsort(-centrality)[:max_lines].tolist())
    return " ".join(format_line(lines[i]) for i in chosen)


def analyze_phases(lines: list[Line], phase_names: list[str], encoder: MiniLMEncoder) -> list[dict]:
    names = [p for p in phase_names if p.lower() != "other"] or ["Other"]
    if not lines:
        return []
    emb = encoder.encode([ln.text for ln in lines])
    sim = phase_scores(lines, names, encoder)
    enough = len(lines) >= len(names)
    labels = monotonic_labels(sim, force_ends=enough, no_skip=enough)
    phases: list[dict] = []
    for i, lab in enumerate(labels):
        if phases and phases[-1]["_label"] == lab:
            phases[-1]["_idx"].append(i)
        else:
            phases.append({"_label": lab, "_idx": [i]})
    out = []
    for j, ph in enumerate(phases):
        idx = ph["_idx"]
        start = lines[idx[0]].start if j else min(ln.start for ln in lines)
        end = lines[phases[j + 1]["_idx"][0]].start if j + 1 < len(phases) else max(ln.end for ln in lines)
        out.append({"name": names[ph["_label"]], "start_time": round(start, 2), "end_time": round(end, 2),
                    "summary": _summary([lines[i] for i in idx], emb[idx])})
    return out
