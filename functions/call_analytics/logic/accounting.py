"""Per-call accounting: workflow counters (polls, waits, state transitions), LLM token usage, estimated cost.

Prices are data (`call_analytics/pricing.json`, list prices with their date; edit to match your contract).
State transitions are counted from the execution state with the state machine's shape (infra/workflow.py):
every state entered is one transition, which is what Step Functions STANDARD bills.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from call_analytics.models import CallState

PRICING_FILE = Path(__file__).resolve().parent.parent / "pricing.json"
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@functools.cache
def load_pricing(path: str | None = None) -> dict[str, Any]:
    return json.loads(Path(path or PRICING_FILE).read_text())


def workflow_stats(state: CallState, *, failed: bool = False) -> dict[str, int]:
    """Counters of this execution. Transitions: HasTranscript? (1); per slot attempt SubmitTranscription +
    SlotAcquired? (+ WaitForSlot when not granted); TranscriptSubmitted + StartPolling (2); per poll
    WaitForTranscript + CheckTranscript + TranscriptReady? (3); FetchTranscript + HasSpeech? (2); RunAnalyses (1)
    and per item (RunAnalysis + AnalysisThrottled?) per run + WaitForLlmQuota per wait + AnalysisDone, or
    NoAnalyses (1); FinalizeCall (1). A failed call counts what its state still shows + RecordFailure + CallFailed.
    `callbacks` (completion_webhook): the polls that AssemblyAI's webhook triggered before the wait ran out
    (WaitForTranscript is then a callback task: still one transition per poll)."""
    slot_attempts = state.slot.attempts if state.slot else 0
    polls = state.poll.polls if state.poll else 0
    analyses = state.analyses or []
    waits = sum(a.waits for a in analyses)
    requests = sum(a.requests for a in analyses)
    transitions = 1
    if slot_attempts:
        transitions += 2 * slot_attempts + (slot_attempts - 1)
        if state.slot and state.slot.acquired:
            transitions += 2
    transitions += 3 * polls
    if state.transcript is not None:
        transitions += 2
        if analyses:
            transitions += 1 + sum(2 * (a.waits + 1) + a.waits + 1 for a in analyses)
        elif not failed:
            transitions += 1
    transitions += 2 if failed else 1
    return {"slot_attempts": slot_attempts, "slot_waited_seconds": state.slot.waited_seconds if state.slot else 0,
            "polls": polls, "callbacks": state.poll.callbacks if state.poll else 0, "llm_requests": requests,
            "llm_quota_waits": waits,
            "llm_quota_waited_seconds": sum(a.waited_seconds for a in analyses), "state_transitions": transitions}


def llm_usage(analysis_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens per call, summed over requests: a combined request's usage is shared by its three section items,
    so it is counted once (keyed by request)."""
    seen: dict[str, dict[str, Any]] = {}
    for item in analysis_items:
        request = item.get("request") or item.get("analysis")
        if request in seen:
            continue
        seen[request] = item
    total = {"input_tokens": 0, "output_tokens": 0, "requests": 0}
    by_model: dict[str, dict[str, int]] = {}
    for item in seen.values():
        tokens = item.get("tokens") or {}
        model = item.get("model") or "unknown"
        entry = by_model.setdefault(model, {"input_tokens": 0, "output_tokens": 0, "requests": 0})
        for target in (total, entry):
            target["input_tokens"] += int(tokens.get("prompt_tokens", 0) or 0)
            target["output_tokens"] += int(tokens.get("completion_tokens", 0) or 0)
            target["requests"] += int(item.get("requests") or item.get("attempts") or 0)
    return {**total, "by_model": by_model}


def estimate_cost(*, usage: dict[str, Any], audio_seconds: float | None, speech_model: str | None,
                  pricing: dict[str, Any] | None = None, features: list[str] | None = None) -> dict[str, Any]:
    """USD: LLM tokens at $/1M input/output per model (the model that answered, so fallbacks are priced right),
    transcription at $/hour of the speech model; plus per audio minute."""
    pricing = pricing or load_pricing()
    llm_prices = pricing.get("llm_per_million_tokens", {})
    unpriced: list[str] = []
    llm = 0.0
    for model, entry in (usage.get("by_model") or {}).items():
        price = llm_prices.get(model)
        if price is None:
            if entry.get("input_tokens") or entry.get("output_tokens"):
                unpriced.append(model)
            continue
        llm += entry["input_tokens"] / 1e6 * price["input"] + entry["output_tokens"] / 1e6 * price["output"]
    transcription = 0.0
    if audio_seconds:
        hourly = pricing.get("transcription_per_hour", {}).get(speech_model or "")
        if hourly is None:
            unpriced.append(speech_model or "unknown speech model")
        else:
            transcription = audio_seconds / 3600 * hourly
        for feature in features or []:  # add-ons such as sentiment_analysis, billed per hour on top
            extra = pricing.get("transcription_features_per_hour", {}).get(feature)
            if extra is None:
                unpriced.append(feature)
            else:
                transcription += audio_seconds / 3600 * extra
    total = llm + transcription
    minutes = (audio_seconds or 0) / 60
    return {
        "currency": pricing.get("currency", "USD"),
        "llm": round(llm, 6),
        "transcription": round(transcription, 6),
        "total": round(total, 6),
        "per_audio_minute": round(total / minutes, 6) if minutes else None,
        "prices_as_of": pricing.get("as_of"),
        "unpriced": sorted(set(unpriced)),
    }
