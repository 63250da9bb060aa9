"""Benchmarks: the seeds' approach vs ours, measured side by side in one run and printed as ratios.

    python -m bench            # full suite
    python -m bench --smoke    # fast subset (< 60 s), what the test suite runs
    python -m bench --json FILE

See docs/benchmarks.md.
"""
