"""finalize_call: mark the call finished and announce it once (results location + a short digest).

The outcome (docs/data-model.md "Outcomes"): COMPLETED when every analysis is valid (or there was none to run:
no speech), PARTIAL when at least one is invalid or missing, so a subscriber filtering on `status=COMPLETED` never
gets a call without usable results. `analyses_valid` ("all" | "some" | "none" | "skipped") and the counts are on
the record, in the message and in its SNS attributes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from call_analytics.errors import InvalidProfile
from call_analytics.logic.accounting import estimate_cost, llm_usage, workflow_stats
from call_analytics.logic.common import iso, result_key, results_prefix, utc_now
from call_analytics.logic.conversation import (
    METRICS_ITEM,
    CategoryOutcome,
    call_roles,
    check_answers,
    store_categories,
    stored_roles,
)
from call_analytics.logic.notifications import CATEGORIES_ATTRIBUTE, VALIDITY_ATTRIBUTES, completion_message
from call_analytics.models import CallState, CallStatus, FinalizeResult
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.settings import FinalizeCallSettings


def finalize_call(
    state: CallState,
    *,
    settings: FinalizeCallSettings,
    calls: Any,
    notifier: Any,
    store: Any,
    now: Callable[[], datetime] = utc_now,
) -> FinalizeResult:
    call_id = state.call_id
    items = calls.list_analyses(call_id)
    transcript = state.transcript.model_dump(mode="json") if state.transcript else None
    categories = evaluate_call_categories(call_id, items, settings=settings, calls=calls, store=store)
    if categories is not None:
        items = calls.list_analyses(call_id)
    validity = analyses_validity(items, expected=(transcript or {}).get("analyses") or [],
                                 skipped=bool((transcript or {}).get("skip_reason")))
    invalid = validity["invalid"]
    status = CallStatus.COMPLETED if validity["analyses_valid"] in ("all", "skipped") else CallStatus.PARTIAL
    detail = "analyses: " + (", ".join(sorted(i["analysis"] for i in items)) or "none")
    if transcript and transcript.get("skip_reason"):
        detail = f"analyses skipped: {transcript['skip_reason']}"
    elif invalid:
        detail += f" (invalid: {', '.join(invalid)}; {validity['analyses_valid_count']} of "
        detail += f"{validity['analyses_total']} valid)"
    record = calls.get_call(call_id) or {}
    stats = workflow_stats(state)
    usage = llm_usage(items)
    audio_seconds = (transcript or {}).get("audio_duration") or record.get("audio_duration")
    cost = estimate_cost(usage=usage, audio_seconds=audio_seconds, speech_model=record.get("speech_model"),
                         features=record.get("transcription_features"))
    changed = calls.set_status(
        call_id, status, detail=detail,
        fields={"invalid_analyses": invalid, "completed_at": iso(now()), "workflow_stats": stats,
                "llm_usage": usage, "cost": cost, "analyses_valid": validity["analyses_valid"],
                "analyses_valid_count": validity["analyses_valid_count"],
                "analyses_total": validity["analyses_total"]},
        only_if_not=CallStatus.DONE, must_exist=False,
    )
    record = calls.get_call(call_id) or record
    status = record.get("status") if record.get("status") in CallStatus.DONE else status  # a repeat: as stored
    if changed:
        metrics.add_metric(name="CallsCompleted", unit=MetricUnit.Count, value=1)
        if status == CallStatus.PARTIAL:
            metrics.add_metric(name="CallsPartial", unit=MetricUnit.Count, value=1)
        created = record.get("created_at")
        if created:
            seconds = (now() - datetime.fromisoformat(created)).total_seconds()
            metrics.add_metric(name="CallLatency", unit=MetricUnit.Seconds, value=max(0.0, seconds))
    if record.get("completion_notified"):
        logger.info("completion already announced")
        return FinalizeResult(call_id=call_id, status=status, notified=False)

    recording = state.recording.model_dump(mode="json") if state.recording else {
        "bucket": record.get("recording_bucket"), "key": record.get("recording_key"),
        "version_id": record.get("recording_version_id")}
    message = completion_message(
        call_id=call_id, profile=state.profile, recording=recording, bucket=settings.RECORDINGS_BUCKET,
        prefix=results_prefix(settings.RESULTS_PREFIX, call_id), analysis_items=items, transcript=transcript,
        at=iso(now()), accounting={"workflow": record.get("workflow_stats") or stats,
                                   "llm": record.get("llm_usage") or usage, "cost": record.get("cost") or cost},
        status=status, validity=validity,
    )
    matched = record.get("categories") or (categories.matched if categories else [])
    message["categories"] = matched
    message_id = notifier.publish(message, status=status, profile=state.profile,
                                  attributes={**{k: validity[k] for k in VALIDITY_ATTRIBUTES},
                                              CATEGORIES_ATTRIBUTE: matched})
    calls.update_fields(call_id, {"completion_notified": True})
    logger.info("call finished", extra={"status": status, "invalid_analyses": invalid, "message_id": message_id})
    return FinalizeResult(call_id=call_id, status=status, message_id=message_id, notified=True)


def analyses_validity(items: list[dict[str, Any]], *, expected: list[str], skipped: bool) -> dict[str, Any]:
    """How many of the call's analyses are valid: a planned analysis (a Map item: an analysis, or `combined`, whose
    items name it as their `request`) without any stored item counts as invalid."""
    items = [i for i in items if not i.get("computed")]  # metrics, categories: not LLM answers (logic/conversation)
    stored = {i["analysis"]: i for i in items if i.get("analysis")}
    covered = set(stored) | {i.get("request") for i in items if i.get("request")}
    names = sorted({*stored, *(e for e in expected if e not in covered)})
    valid = sorted(n for n, i in stored.items() if i.get("valid"))
    invalid = [n for n in names if n not in valid]
    if not names:
        summary = "skipped" if skipped or not items else "all"
    else:
        summary = "all" if not invalid else ("none" if not valid else "some")
    return {"analyses_valid": summary, "analyses_valid_count": len(valid), "analyses_total": len(names),
            "invalid": invalid}


def evaluate_call_categories(call_id: str, items: list[dict[str, Any]], *, settings: FinalizeCallSettings,
                             calls: Any, store: Any) -> CategoryOutcome | None:
    """The profile snapshot's categories on the stored transcript, metrics and check answers; None when the
    profile defines none. A call whose transcript or profile snapshot is gone keeps going without categories
    (logged and recorded as `categories_error`): the analyses it has are still announced."""
    from call_analytics.adapters.results_store import ObjectMissing
    from call_analytics.profiles.loader import profile_from_snapshot

    bucket, prefix = settings.RECORDINGS_BUCKET, settings.RESULTS_PREFIX
    try:
        profile = profile_from_snapshot(store.get_json(bucket, result_key(prefix, call_id, "profile.json")))
        if not profile.categories:
            return None
        transcript = store.get_json(bucket, result_key(prefix, call_id, "transcript.json"))
    except (ObjectMissing, InvalidProfile) as exc:
        logger.warning("categories not evaluated", extra={"reason": str(exc)})
        calls.update_fields(call_id, {"categories_error": str(exc)[:300]})
        return None
    record = calls.get_call(call_id) or {}
    roles = stored_roles(record) or call_roles(transcript, profile, record)
    metrics_item = next((i for i in items if i.get("analysis") == METRICS_ITEM), None)
    metrics_result = (metrics_item or {}).get("result")
    if metrics_result is None:
        from call_analytics.conversation.metrics import conversation_metrics

        metrics_result = conversation_metrics(transcript, roles, profile.metrics)
    # a retried finalize stores the same result again but counts the matches once (CategoryMatched)
    return store_categories(transcript, profile, roles, metrics_result, check_answers(items), store=store,
                            calls=calls, bucket=bucket, prefix=prefix, call_id=call_id,
                            count=not record.get("completion_notified"))
