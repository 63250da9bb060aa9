"""Fixtures for the tutorial (seed) tests: the local server, the sample calls, and the PulseAudio virtual
microphone of the edge tests (imported from tests/edge/conftest.py, not copied)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from samples.generate import generate  # noqa: E402 -- needs REPO_ROOT on sys.path (set above)
from tests.conftest import start_aai_server  # noqa: E402
from tests.edge.conftest import virtual_mic  # noqa: E402,F401 -- the edge tests' PulseAudio mic fixture

from .extract import SEEDS_DIR  # noqa: E402

SEED_CALLS = ("contoso_map_update", "fabrikam_billing_question", "northwind_outage_refund")


@pytest.fixture(scope="session")
def seeds_available() -> Path:
    # the copy in tests/seeds/tutorials is always there: a missing directory is a broken checkout, not a skip
    assert SEEDS_DIR.is_dir(), f"the tutorials are not here ({SEEDS_DIR})"
    return SEEDS_DIR


@pytest.fixture(scope="session")
def seed_samples(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed-samples")
    generate(out, list(SEED_CALLS))
    return out


@pytest.fixture(scope="session")
def seed_truth(seed_samples):
    def load(call_id: str) -> dict:
        return json.loads((seed_samples / call_id / "truth.json").read_text())
    return load


@pytest.fixture(scope="session")
def seed_server(tmp_path_factory):
    """The local server with its default engines (offline LLM Gateway); real-time streaming as a microphone."""
    root = tmp_path_factory.mktemp("seed-srv")
    srv = start_aai_server(root, {"cache_dir": str(root / "cache")})
    yield srv
    srv.stop()
