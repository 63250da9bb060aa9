"""Row: quality of the offline LLM Gateway engine on a varied scripted corpus (bench/analysis_corpus.py).

Measured the way the engine is used, with the server's own analyzer (`OfflineAnalyzer.answer`, what the
gateway's OfflineEngine calls):

* the tutorials' free-form prompts (bench/seeds.py): 000/001 phases with the VTT pasted into the message,
  003 action items and a 002-style question list with `{{ transcript }}` + transcript_id (the transcript's
  plain text is substituted, the stored lines carry no speakers: the tutorials do not ask for speaker_labels);
* the pipeline's structured requests (`response_format.json_schema.name`): `call_phases` and
  `call_analysis` with `action_items` and `checks`, on compact lines (letters or role names).

Figures: phase agreement = share of spoken time (truth utterances, 10 ms grid) whose phase is right (an
answer that does not parse as the requested JSON scores 0); action-item recall = scripted commitments
found (content words of the truth item covered >= 60 % by one answer item), with owner role and due date
checked on the found ones (structured answers); yes/no = answers that start with the right yes or no.

"Before" (the seeds' column) is the engine as it was at BEFORE_COMMIT, materialised with `git archive` and
run in a subprocess on the same corpus; without git it shows n/a.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from bench import analysis_corpus as corpus
from bench import seeds
from bench.core import REPO_ROOT, Context, Row

TITLE = "offline engine: phases / action items / yes-no"
IN_SMOKE = True
BEFORE_COMMIT = "bd53f32"  # the engine before the prompt-aware work (issue 12)

_STOP = set("""a an the to of and or for on in at by with from into onto as is are be been was were will would
shall should can could may might must do does did done it its this that these those there their them they he she
his her him i me my we us our you your yours mine up out so if then than also any all some""".split())


# ------------------------------------------------------------------------------------------------ requests

def _phases_schema(names: list[str]) -> dict:
    item = {"type": "object", "properties": {"name": {"type": "string", "enum": names},
                                             "start_time": {"type": "number"}, "end_time": {"type": "number"},
                                             "summary": {"type": "string"}}}
    return {"type": "array", "items": item}


def _structured(name: str, properties: dict, prompt: str, transcript: str) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {"model": seeds.MODEL, "messages": [{"role": "user", "content": f"{prompt}\n\n{transcript}"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": name, "schema": schema, "strict": True}}}


def _questions_prompt(questions: list[str], answer_format: str) -> str:
    blocks = [f"Question: {q}\nAnswer Format: {answer_format}" for q in questions]
    return ("You are an expert at analyzing call transcripts.\nGiven the series of questions below, answer them "
            "accurately and concisely.\nWhen context or answer format is provided, use it to guide your answers."
            "\n\nTranscript:\n{{ transcript }}\n\nQuestions:\n" + "\n\n".join(blocks))


def requests_for(call: corpus.ScriptedCall) -> dict[str, dict]:
    phase_prompt = seeds.phases_request("")["messages"][0]["content"].split("\n\nVTT Transcript:")[0]
    phase_prompt = phase_prompt.replace(", ".join(seeds.PHASES), ", ".join(call.phases))
    checks_items = {"type": "object", "properties": {
        "question": {"type": "string", "enum": list(call.checks)},
        "answer": {"type": "string", "enum": ["yes", "no"]}, "quote": {"type": "string"}}}
    actions = {"type": "array", "items": {"type": "object", "properties": {
        "item": {"type": "string"}, "owner": {"type": ["string", "null"]}, "due_date": {"type": ["string", "null"]}}}}
    compact, whole = corpus.render_compact(call), corpus.render_compact(call, whole_seconds=True)
    analysis_prompt = ("Complete every task below for the phone call transcript at the end. Answer with one JSON "
                       'object, each task\'s answer under its key.\n\nTask 1 (key "action_items"):\nHere are '
                       "guidelines to follow:\n- " + "\n- ".join(seeds.GUIDELINES) +
                       '\n\nTask 2 (key "checks"): answer each yes/no question with yes or no and a verbatim quote.')
    return {
        "free_phases": {"model": seeds.MODEL, "max_tokens": 2000, "messages": [
            {"role": "user", "content": f"{phase_prompt}\n\nVTT Transcript:\n{corpus.render_vtt(call)}"}]},
        "free_actions": seeds.action_items_request("tid"),
        "free_questions": {"model": seeds.MODEL, "transcript_id": "tid", "max_tokens": 2000, "messages": [
            {"role": "user", "content": _questions_prompt(list(call.checks), "<yes or no> <reason>")}]},
        "structured_phases": _structured("call_phases", {"phases": _phases_schema(call.phases)},
                                         "Divide the call into phases: " + ", ".join(call.phases), compact),
        "structured_analysis": _structured("call_analysis", {"action_items": actions,
                                                             "checks": {"type": "array", "items": checks_items}},
                                           analysis_prompt, whole),
    }


# ------------------------------------------------------------------------------------------------ running

def _answer(analyzer, request: dict, call: corpus.ScriptedCall) -> str:
    """What the gateway's OfflineEngine answers (substitution and stored lines as the gateway does them)."""
    import copy

    from local_assemblyai.analyzers import AnalysisInput
    from local_assemblyai.transcript_parse import Line

    messages = copy.deepcopy(request["messages"])
    substituted = None
    stored: list = []
    if request.get("transcript_id"):
        substituted = corpus.plain_text(call)
        for m in messages:
            if "{{ transcript }}" in m["content"]:
                m["content"] = m["content"].replace("{{ transcript }}", substituted, 1)
                break
        stored = _sentence_lines(call, Line)
    return analyzer.answer(AnalysisInput(messages=messages, response_format=request.get("response_format"),
                                         stored_lines=stored, substituted_text=substituted))


def _sentence_lines(call, line_cls) -> list:
    """The stored transcript without speaker labels: sentences (the gateway's `_sentences_of`)."""
    out = []
    for ln in corpus.timed_lines(call):
        parts = [p for p in re.split(r"(?<=[.?!])\s+", ln.text) if p]
        total = sum(len(p.split()) for p in parts)
        t = ln.start
        for p in parts:
            dur = (ln.end - ln.start) * len(p.split()) / max(1, total)
            out.append(line_cls(round(t, 2), round(t + dur, 2), None, p))
            t += dur
    return out


def _stems(text: str) -> set[str]:
    out = set()
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w in _STOP or len(w) < 2:
            continue
        for suf in ("ing", "ed", "es", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.add(w)
    return out


def _covers(pred: str, truth: str) -> float:
    t = _stems(truth)
    return len(t & _stems(pred)) / max(1, len(t))


def match_items(pred: list[dict], truth: list[dict]) -> list[tuple[dict, dict | None]]:
    """Each truth commitment with the answer item that covers it best (>= 60 % of its content words)."""
    used: set[int] = set()
    out = []
    for t in truth:
        best, best_i = 0.0, None
        for i, p in enumerate(pred):
            if i in used:
                continue
            c = _covers(p.get("item") or "", t["item"])
            if c > best:
                best, best_i = c, i
        if best_i is not None and best >= 0.6:
            used.add(best_i)
            out.append((t, pred[best_i]))
        else:
            out.append((t, None))
    return out


def _phase_score(content: str, call: corpus.ScriptedCall) -> float:
    from samples.evaluate import phase_accuracy

    try:
        phases = json.loads(content)["phases"]
        phases = [{"name": p["name"], "start_time": float(p["start_time"]), "end_time": float(p["end_time"])}
                  for p in phases]
    except (ValueError, KeyError, TypeError):
        return 0.0
    if not phases:
        return 0.0
    truth = {"utterances": [{"start": ln.start, "end": ln.end, "phase": ln.phase} for ln in corpus.timed_lines(call)]}
    return phase_accuracy(phases, truth)


def _bullets(content: str) -> list[dict]:
    return [{"item": m.group(1)} for m in re.finditer(r"(?m)^\s*(?:[-*\u2022]|\d+[.)])\s+(.+)$", content)]


def _yes_no(text: str) -> str | None:
    m = re.match(r"\W*(yes|no)\b", text.strip(), re.IGNORECASE)
    return m.group(1).lower() if m else None


def _free_answers(content: str, n: int) -> list[str]:
    """The answers of a free-form question list, in order: blocks after `Answer:` or numbered lines."""
    found = re.findall(r"(?im)^\s*(?:\*\*)?answer(?:\*\*)?\s*:\s*(.+)$", content)
    if not found:
        found = [m.group(1) for m in re.finditer(r"(?m)^\s*\d+[.)]\s+(.+)$", content)]
    return found[:n]


def evaluate(calls: list[corpus.ScriptedCall] | None = None, split: str | None = None) -> dict[str, Any]:
    """All calls (or `calls`); the result also has the figures of the fresh split under "fresh"."""
    from local_assemblyai.analyzers import OfflineAnalyzer

    analyzer = OfflineAnalyzer()
    if calls is None:
        calls = corpus.FRESH_CALLS if split == "fresh" else corpus.CALLS + corpus.FRESH_CALLS
    per_call = {}
    for call in calls:
        req = requests_for(call)
        got = {k: _answer(analyzer, r, call) for k, r in req.items()}
        r: dict[str, Any] = {"free_phases": _phase_score(got["free_phases"], call),
                             "structured_phases": _phase_score(got["structured_phases"], call)}
        bullets = _bullets(got["free_actions"])
        r["free_items"] = [p is not None for _, p in match_items(bullets, call.commitments)]
        try:
            analysis = json.loads(got["structured_analysis"])
        except ValueError:
            analysis = {}
        items = analysis.get("action_items") or []
        matched = match_items(items, call.commitments)
        r["items"] = [p is not None for _, p in matched]
        r["owner_ok"] = [(p.get("owner") or "").lower() == t["owner"] for t, p in matched if p]
        r["due_ok"] = [(p.get("due_date") or None) and t["due"] and t["due"].lower() in p["due_date"].lower()
                       or (p.get("due_date") is None and t["due"] is None) for t, p in matched if p]
        r["extra_items"] = max(0, len(items) - sum(r["items"]))
        checks = {c.get("question"): c.get("answer") for c in analysis.get("checks") or [] if isinstance(c, dict)}
        r["checks_ok"] = [checks.get(q) == a for q, a in call.checks.items()]
        answers = _free_answers(got["free_questions"], len(call.checks))
        answers += [""] * (len(call.checks) - len(answers))
        r["free_yes_no_ok"] = [_yes_no(a) == t for a, t in zip(answers, call.checks.values(), strict=True)]
        per_call[call.id] = r
    result = summarise(per_call)
    fresh = {k: v for k, v in per_call.items() if k in {c.id for c in corpus.FRESH_CALLS}}
    if fresh and len(fresh) < len(per_call):
        result["fresh"] = {k: v for k, v in summarise(fresh).items() if k != "per_call"}
    return result


def _share(values: list[bool]) -> float:
    return 100.0 * sum(bool(v) for v in values) / max(1, len(values))


def summarise(per_call: dict[str, dict]) -> dict[str, Any]:
    def flat(key: str) -> list:
        return [v for r in per_call.values() for v in r[key]]

    def mean(key: str) -> float:
        return 100.0 * sum(r[key] for r in per_call.values()) / max(1, len(per_call))

    return {"calls": len(per_call), "free_phases": mean("free_phases"), "structured_phases": mean("structured_phases"),
            "free_items": _share(flat("free_items")), "items": _share(flat("items")),
            "owner_ok": _share(flat("owner_ok")), "due_ok": _share(flat("due_ok")),
            "extra_items": sum(r["extra_items"] for r in per_call.values()),
            "n_items": len(flat("items")), "checks": _share(flat("checks_ok")),
            "free_yes_no": _share(flat("free_yes_no_ok")), "n_checks": len(flat("checks_ok")),
            "min_structured_phases": min((r["structured_phases"] for r in per_call.values()), default=0) * 100,
            "per_call": per_call}


def evaluate_before(ctx: Context | None = None) -> tuple[dict[str, Any] | None, str]:
    """The same evaluation with the engine of BEFORE_COMMIT (git archive of local_assemblyai into a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="aq-before-") as tmp:
        try:
            archive = subprocess.run(["git", "archive", BEFORE_COMMIT, "local_assemblyai"], cwd=REPO_ROOT,
                                     capture_output=True, check=True, timeout=60).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"before n/a (git archive {BEFORE_COMMIT}: {exc})"
        code = ("import json, sys; from bench.rows.analysis_quality import evaluate; "
                "r = evaluate(); r.pop('per_call'); print(json.dumps(r, default=str))")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(REPO_ROOT)]), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
        if proc.returncode != 0:
            return None, f"before n/a ({proc.stderr.strip().splitlines()[-1:]})"
        return json.loads(proc.stdout.strip().splitlines()[-1]), f"before = engine at {BEFORE_COMMIT}"


def run(ctx: Context) -> list[Row]:
    ctx.log(f"analysis quality: {len(corpus.CALLS) + len(corpus.FRESH_CALLS)} scripted calls, engine before "
            f"({BEFORE_COMMIT}) and now")
    before, how = evaluate_before(ctx)
    now = evaluate()
    b = before or {}
    f, fb = now.get("fresh", {}), b.get("fresh", {})

    def fresh(key: str) -> str:
        return f"fresh split ({f.get('calls', 0)} calls written after tuning): {f.get(key, float('nan')):.0f} % " \
               f"(before {fb.get(key, float('nan')):.0f} %)"

    n = f"{now['calls']} scripted calls (bench/analysis_corpus.py); {how}"
    return [
        Row("phase agreement, tutorial 000 prompt + VTT", b.get("free_phases"), now["free_phases"], "%",
            f"{n}; share of spoken time in the right phase; unparsable JSON = 0; {fresh('free_phases')}", digits=1),
        Row("phase agreement, pipeline call_phases (compact)", b.get("structured_phases"), now["structured_phases"],
            "%", f"worst call {now['min_structured_phases']:.0f} % (before "
                 f"{b.get('min_structured_phases', float('nan')):.0f} %); {fresh('structured_phases')}", digits=1),
        Row("action-item recall, pipeline call_analysis", b.get("items"), now["items"], "%",
            f"{now['n_items']} scripted commitments; owner right {now['owner_ok']:.0f} % (before "
            f"{b.get('owner_ok', float('nan')):.0f} %), due date right {now['due_ok']:.0f} % (before "
            f"{b.get('due_ok', float('nan')):.0f} %) of the found; extra items {now['extra_items']} "
            f"(before {b.get('extra_items', 'n/a')}); {fresh('items')}", digits=1),
        Row("action-item recall, tutorial 003 bullets", b.get("free_items"), now["free_items"], "%",
            "no speaker labels (as the tutorial transcribes); bullets matched by content words", digits=1),
        Row("yes/no answers right, pipeline checks", b.get("checks"), now["checks"], "%",
            f"{now['n_checks']} questions over the calls (supervisor, refund, apology, cancel, retained, ...); "
            f"{fresh('checks')}", digits=1),
        Row("yes/no answers right, tutorial 002-style prompt", b.get("free_yes_no"), now["free_yes_no"], "%",
            "Answer Format: <yes or no> <reason>; each answer must start with the right yes or no", digits=1),
    ]
