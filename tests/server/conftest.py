"""Fixtures for tests/server: generated sample calls, a shared STT cache and local servers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `samples` and `local_assemblyai` are imported by the unit-level tests
    sys.path.insert(0, str(REPO_ROOT))

from samples.generate import generate  # noqa: E402 -- needs REPO_ROOT on sys.path (set above)
from tests.conftest import TEST_API_KEY, start_aai_server  # noqa: E402 -- needs REPO_ROOT on sys.path

from .helpers import Admin  # noqa: E402 -- kept in the import block, after the sys.path setup

FAST_WEBHOOKS = {"max_attempts": 3, "retry_interval_seconds": 0.2, "timeout_seconds": 5}


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    """All sample calls + error inputs, synthesized once per session (a few seconds)."""
    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out


@pytest.fixture(scope="session")
def truth(samples_dir):
    def load(call_id: str) -> dict:
        return json.loads((samples_dir / call_id / "truth.json").read_text())
    return load


@pytest.fixture(scope="session")
def stt_cache(tmp_path_factory) -> Path:
    """One STT cache for every server of the session: each audio file is decoded once."""
    return tmp_path_factory.mktemp("stt-cache")


@pytest.fixture(scope="session")
def server(tmp_path_factory, stt_cache):
    """The main server of this suite (default engines, fast webhook retries)."""
    srv = start_aai_server(tmp_path_factory.mktemp("srv"), {"cache_dir": str(stt_cache), "webhook": FAST_WEBHOOKS})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin(server) -> Admin:
    return Admin(server.base_url, server.api_key)


@pytest.fixture
def clean_faults(admin):
    admin.clear_faults()
    yield admin
    admin.clear_faults()


@pytest.fixture(scope="session")
def api_key() -> str:
    return TEST_API_KEY
