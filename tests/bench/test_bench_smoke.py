"""The benchmark suite's smoke mode runs and prints its one table (figures are never asserted as timings)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_bench_smoke_prints_one_table_with_token_rows(tmp_path):
    # Given an empty work directory (nothing cached from earlier runs)
    out = tmp_path / "bench.json"
    # When the smoke subset runs
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--quiet", "--work-dir", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    # Then it exits 0 and prints the header and the table
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("# bench (smoke)")
    assert "seeds' approach" in proc.stdout.splitlines()[1]
    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    # And the token rows compare real request sizes (counts, not timings)
    tokens = [row for name, row in rows.items() if name.startswith("LLM input tokens/call")]
    assert len(tokens) == 2
    for row in tokens:
        assert row["status"] == "ok" and row["baseline"] > 0 and row["ours"] > 0
    assert not [row for row in rows.values() if row["status"] == "error"]
