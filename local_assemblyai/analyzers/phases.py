"""Call phases by ordered segmentation of sentence embeddings (centred monotonic DP).

S[i, k] = cos(line i, prototype of phase k), centred per prototype over the call (so a prototype
that is close to everything cannot swallow the call). A dynamic program picks non-decreasing
phase labels that start in the first phase and end in the last (when there are enough lines),
maximising the summed similarity. Phases are therefore ordered, contiguous and cover the call.
"""

from __future__ import annotations

import numpy as np

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .common import format_line

# Generic descriptions, written for any support call (not copied from the sample scripts).
PROTOTYPES: dict[str, str] = {
    "introduction": "The agent greets the caller, introduces themselves and the company and asks how they can "
                    "help; the caller says who they are and confirms their account details.",
    "greeting": "The agent greets the caller and introduces themselves.",
    "complaint": "The customer describes the problem they are having and complains about a fault, poor service "
                 "or an unexpected charge, and the agent asks questions about the issue.",
    "problem": "The customer describes the problem they are having and the agent asks questions about it.",
    "issue": "The customer describes the issue they are having and the agent asks questions about it.",
    "resolution": "The agent offers a solution such as a refund, a discount, a repair or a fix, explains the "
                  "next steps and when they will happen, and the customer agrees.",
    "solution": "The agent offers a solution and explains the next steps.",
    "goodbye": "The agent asks whether there is anything else, both thank each other and say goodbye.",
    "closing": "The agent asks whether there is anything else, both thank each other and say goodbye.",
}


def prototype_for(name: str) -> str:
    return PROTOTYPES.get(name.strip().lower(), f"This part of the call is the {name}.")


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
    proto = encoder.encode([prototype_for(p) for p in names])
    sim = emb @ proto.T
    sim = sim - sim.mean(axis=0, keepdims=True)
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
