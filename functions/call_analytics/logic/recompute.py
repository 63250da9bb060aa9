"""Retroactive insights: roles, metrics and categories of finished calls again, from their stored transcript and
the CURRENT profile (`callctl redrive --recompute CALL|--all`), so new category rules apply to old calls.

No transcription and no Step Functions execution. No LLM request either, unless the profile's category questions
changed: the stored `checks` answers are reused when they answer every question the rules now ask; otherwise the
call needs its analyses run again (`needs_llm` lists the unanswered questions; callctl then re-drives the call,
which re-runs the LLM analyses from the stored transcript). The call is not announced again (its status does not
change); the record's `categories`, `roles` and `recomputed_at` and the `metrics` / `categories` items are
updated, and the profile snapshot becomes the current profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.errors import InvalidProfile
from call_analytics.logic.common import iso, result_key, save_profile_snapshot, utc_now
from call_analytics.logic.conversation import call_roles, check_answers, store_categories, store_metrics
from call_analytics.models import CallStatus


@dataclass
class RecomputeDeps:
    calls: Any  # CallsTable
    store: Any  # ResultsStore
    profiles: Any  # ProfileLoader
    bucket: str
    results_prefix: str = "results/"
    now: Callable[[], datetime] = field(default=utc_now)


@dataclass(frozen=True)
class RecomputeResult:
    call_id: str
    outcome: str  # recomputed | needs_llm | skipped
    categories: list[str] = field(default_factory=list)
    changed: bool = False  # the matched categories differ from before
    needs_llm: list[str] = field(default_factory=list)
    reason: str | None = None


def recompute_call(call_id: str, deps: RecomputeDeps) -> RecomputeResult:
    record = deps.calls.get_call(call_id)
    if record is None:
        return RecomputeResult(call_id, "skipped", reason="unknown call")
    if record.get("status") not in CallStatus.DONE:
        return RecomputeResult(call_id, "skipped", reason=f"status {record.get('status')}: not finished")
    bucket, prefix = deps.bucket, deps.results_prefix
    try:
        profile = deps.profiles.load(record.get("profile") or "default")
        transcript = deps.store.get_json(bucket, result_key(prefix, call_id, "transcript.json"))
    except ObjectMissing:
        return RecomputeResult(call_id, "skipped", reason="no stored transcript")
    except InvalidProfile as exc:
        return RecomputeResult(call_id, "skipped", reason=f"the profile no longer validates: {exc}")
    items = deps.calls.list_analyses(call_id)
    answers = check_answers(items)
    missing = [q for q in profile.check_questions() if q not in answers]
    if missing:
        return RecomputeResult(call_id, "needs_llm", needs_llm=missing,
                               reason=f"{len(missing)} category question(s) without a stored LLM answer")
    save_profile_snapshot(deps.store, bucket, prefix, call_id, profile)
    roles = call_roles(transcript, profile, record)
    metrics = store_metrics(transcript, profile, roles, store=deps.store, calls=deps.calls, bucket=bucket,
                            prefix=prefix, call_id=call_id)
    outcome = store_categories(transcript, profile, roles, metrics, answers, store=deps.store, calls=deps.calls,
                               bucket=bucket, prefix=prefix, call_id=call_id, count=False)
    deps.calls.update_fields(call_id, {"roles": roles.to_record(), "recomputed_at": iso(deps.now())})
    before = sorted(record.get("categories") or [])
    return RecomputeResult(call_id, "recomputed", categories=outcome.matched, changed=before != sorted(outcome.matched))


def recompute_finished(deps: RecomputeDeps, *, limit: int = 1000) -> list[RecomputeResult]:
    """Every COMPLETED and PARTIAL call, newest first (the by_status index: no table scan)."""
    results = []
    for status in (CallStatus.COMPLETED, CallStatus.PARTIAL):
        for record in deps.calls.recent_by_status(status, limit=limit):
            results.append(recompute_call(record["call_id"], deps))
    return results
