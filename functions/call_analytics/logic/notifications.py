"""The SNS message bodies (documented in docs/data-model.md). The error text is redacted
(call_analytics/redaction.py): whatever an upstream echoed, no key or auth value is published."""

from __future__ import annotations

from typing import Any

from call_analytics.redaction import redact

MESSAGE_VERSION = 1
#: on a finished call's message and as its SNS message attributes (filterable): "all"|"some"|"none"|"skipped", counts
VALIDITY_ATTRIBUTES = ("analyses_valid", "analyses_valid_count", "analyses_total")
SHORT_ANSWER_CHARS = 160
#: a finished call's matched categories, as a String.Array message attribute: the filter policy
#: {"categories": ["escalation"]} receives only the calls in that category (docs/data-model.md "Categories")
CATEGORIES_ATTRIBUTE = "categories"


def recording_ref(recording: dict[str, Any] | None) -> dict[str, Any] | None:
    if not recording:
        return None
    return {"bucket": recording.get("bucket"), "key": recording.get("key"), "version_id": recording.get("version_id")}


def failure_message(*, call_id: str, profile: str | None, recording: dict[str, Any] | None, error_type: str,
                    reason: str, at: str) -> dict[str, Any]:
    return {
        "version": MESSAGE_VERSION,
        "call_id": call_id,
        "status": "FAILED",
        "profile": profile,
        "recording": recording_ref(recording),
        "error": {"type": redact(error_type), "reason": redact(reason)},  # the free text an upstream may fill
        "failed_at": at,
    }


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SHORT_ANSWER_CHARS else text[: SHORT_ANSWER_CHARS - 1] + "…"


def digest(analysis_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Phases timeline names, short sentiment answers, number of action items, invalid analyses."""
    by_name = {item.get("analysis"): item for item in analysis_items}
    result: dict[str, Any] = {}
    phases = (by_name.get("phases") or {}).get("result") or {}
    if "phases" in by_name:
        result["phases"] = [p.get("name") for p in phases.get("phases", [])]
    sentiment = (by_name.get("sentiment") or {}).get("result") or {}
    if "sentiment" in by_name:
        result["sentiment"] = [
            {"question": a.get("question"), "answer": _short(a.get("answer", ""))} for a in sentiment.get("answers", [])
        ]
    actions = (by_name.get("action_items") or {}).get("result") or {}
    if "action_items" in by_name:
        result["action_items"] = len(actions.get("action_items", []))
    if "metrics" in by_name:
        result["metrics"] = metrics_digest((by_name.get("metrics") or {}).get("result") or {})
    if "categories" in by_name:
        result["categories"] = ((by_name.get("categories") or {}).get("result") or {}).get("matched", [])
    result["invalid_analyses"] = sorted(n for n, item in by_name.items() if not item.get("valid"))
    return result


def metrics_digest(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per role: talk share, words per minute, turns, interruptions; the call: non-talk share, longest silence,
    agent response latency (the full document: results/<call_id>/metrics.json)."""
    roles = {
        role: {k: entry.get(k) for k in ("talk_share", "words_per_minute", "turns", "interruptions")}
        for role, entry in (metrics.get("roles") or {}).items()
    }
    non_talk = metrics.get("non_talk") or {}
    latency = metrics.get("response_latency") or {}
    return {"roles": roles, "non_talk_share": non_talk.get("share"),
            "longest_silence_seconds": (non_talk.get("longest_silence") or {}).get("seconds"),
            "response_latency_median_seconds": latency.get("median_seconds")}


def accounting_digest(accounting: dict[str, Any] | None) -> dict[str, Any]:
    """The short form of workflow counters, LLM usage and cost for the notification digest."""
    if not accounting:
        return {}
    workflow, llm, cost = accounting.get("workflow") or {}, accounting.get("llm") or {}, accounting.get("cost") or {}
    return {
        "workflow": {k: workflow.get(k) for k in ("slot_attempts", "polls", "llm_quota_waits", "state_transitions")},
        "llm": {k: llm.get(k) for k in ("input_tokens", "output_tokens", "requests")},
        "cost": {k: cost.get(k) for k in ("currency", "total", "per_audio_minute", "prices_as_of")},
    }


def completion_message(*, call_id: str, profile: str | None, recording: dict[str, Any] | None, bucket: str,
                       prefix: str, analysis_items: list[dict[str, Any]], transcript: dict[str, Any] | None,
                       at: str, accounting: dict[str, Any] | None = None, status: str = "COMPLETED",
                       validity: dict[str, Any] | None = None) -> dict[str, Any]:
    """A finished call: `status` COMPLETED (every analysis valid) or PARTIAL (docs/data-model.md "Outcomes")."""
    analyses = {item["analysis"]: f"{prefix}{item['analysis']}.json" for item in analysis_items if item.get("analysis")}
    return {
        "version": MESSAGE_VERSION,
        "call_id": call_id,
        "status": status,
        **{k: (validity or {}).get(k) for k in VALIDITY_ATTRIBUTES if validity},
        "profile": profile,
        "recording": recording_ref(recording),
        "results": {
            "bucket": bucket,
            "prefix": prefix,
            "transcript": f"{prefix}transcript.json",
            "captions": f"{prefix}captions.vtt" if (transcript or {}).get("has_speech") else None,
            "analyses": analyses,
        },
        "audio_duration": (transcript or {}).get("audio_duration"),
        "skip_reason": (transcript or {}).get("skip_reason"),
        "digest": {**digest(analysis_items), **accounting_digest(accounting)},
        "completed_at": at,
    }
