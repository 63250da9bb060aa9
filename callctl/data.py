"""Reading calls back from the calls table (layout: docs/architecture.md "Storage"), through the Lambda
package's own adapter so the CLI and the functions agree on the format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callctl.target import CallctlError, Target, use_functions_package

STATUSES = ("LIVE", "RECEIVED", "QUEUED", "TRANSCRIBING", "ANALYZING", "COMPLETED", "PARTIAL", "FAILED")
TERMINAL = ("COMPLETED", "PARTIAL", "FAILED")  # PARTIAL: finished, an analysis invalid (docs/data-model.md)


@dataclass
class CallView:
    meta: dict[str, Any]
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: list[dict[str, Any]] = field(default_factory=list)  # the edge client's LLM responses, in turn order

    @property
    def call_id(self) -> str:
        return self.meta["call_id"]

    @property
    def status(self) -> str:
        return self.meta.get("status", "?")

    def result(self, name: str) -> dict | None:
        item = self.analyses.get(name) or {}
        result = item.get("result")
        return result if isinstance(result, dict) else None


def calls_table(target: Target) -> Any:
    use_functions_package()
    from call_analytics.adapters.calls_table import CallsTable

    return CallsTable(target.output("CallsTableName"), target.client("dynamodb"))


def recent_calls(target: Target, status: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first from the by_status index; all statuses merged when `status` is None."""
    table = calls_table(target)
    statuses = [status.upper()] if status else list(STATUSES)
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise CallctlError(f"unknown status {unknown[0]!r}; use one of {', '.join(STATUSES)}")
    calls: list[dict[str, Any]] = []
    for name in statuses:
        calls += table.recent_by_status(name, limit=limit)
    calls.sort(key=lambda c: c.get("updated_at", ""), reverse=True)
    return calls[:limit]


def load_call(target: Target, call_id: str) -> CallView:
    table = calls_table(target)
    candidates = [call_id] if call_id.startswith("c-") else [call_id, f"c-{call_id}"]
    for candidate in candidates:
        meta = table.get_call(candidate)
        if meta:
            return CallView(meta, {a["analysis"]: a for a in table.list_analyses(candidate)},
                            table.list_live_insights(candidate))
    raise CallctlError(f"no call {call_id!r} in {target.label} (list them with `callctl calls`)")
