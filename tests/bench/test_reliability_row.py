"""The reliability row's bookkeeping (bench/rows/reliability.py): what counts as lost, stuck, silent or leaked,
and that its storm plan is one the local AssemblyAI server accepts. No sockets."""

from __future__ import annotations

import importlib
import sys

import pytest

from local_assemblyai.faults import FaultPlan
from tests.conftest import REPO_ROOT

TERMINAL = ("COMPLETED", "PARTIAL", "FAILED")


@pytest.fixture(scope="module")
def row():
    """bench.rows.reliability: inside pytest the name `bench` is this test package (tests/bench), so import the
    real one with the repository root first, then put the test package back."""
    def ours(name: str) -> bool:
        return name == "bench" or name.startswith("bench.")

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(REPO_ROOT))
    try:
        return importlib.import_module("bench.rows.reliability")
    finally:
        sys.path.remove(str(REPO_ROOT))
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_tally_separates_lost_stuck_silent_and_terminal_outcomes(row):
    records = {
        "done": {"status": "COMPLETED"},
        "partial": {"status": "PARTIAL", "failure_error": "InvalidAnalysis"},
        "failed-quiet": {"status": "FAILED", "failure_reason": "workflow TIMED_OUT after 40 s"},
        "waiting": {"status": "TRANSCRIBING"},
        "gone": None,
    }
    result = row.tally(list(records), records, announced={"done", "partial"}, terminal=TERMINAL)

    assert result.uploads == 5
    assert result.lost == ["gone"] and result.stuck == ["waiting"] and result.silent == ["failed-quiet"]
    assert result.statuses == {"COMPLETED": 1, "PARTIAL": 1, "FAILED": 1}
    assert result.reasons == {"InvalidAnalysis": 1, "workflow TIMED_OUT after 40 s": 1}


def test_leaks_counts_each_text_that_contains_the_key_by_source(row):
    key = "local-0123456789abcdef"
    sources = [("dynamodb", '{"failure_reason": {"S": "401 for key local-0123456789abcdef"}}'),
               ("dynamodb", '{"status": {"S": "FAILED"}}'),
               ("logs", f"Authorization: {key}\n"), ("sns", "[REDACTED]")]
    assert row.leaks(key, sources) == {"dynamodb": 1, "logs": 1}
    assert row.leaks("", sources) == {}


def test_both_storm_plans_are_valid_fault_rules_of_the_local_server(row):
    for smoke in (True, False):
        rules = row.storm_rules(smoke)
        plan = FaultPlan(list(rules))
        actions = {r["action"] for r in plan.to_list()}
        assert {"429", "5xx", "garbage"} <= actions
    full = {r["action"] for r in row.storm_rules(False)}
    assert {"latency", "truncated", "refusal"} <= full
    assert any(r.get("stage") == "response" for r in row.storm_rules(False))
