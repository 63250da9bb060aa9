"""Synthesize the stack once per session (a synth takes seconds) and hand out parsed templates."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
for path in (REPO_ROOT, REPO_ROOT / "functions"):  # infra/ and the settings models (call_analytics)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra_template import Synth, synthesize  # noqa: E402 -- needs REPO_ROOT on sys.path (set above)

#: a deployment that moves every knob away from its default
ALT_CONTEXT = {
    "stack_name": "CallAnalyticsAlt",
    "assemblyai_region": "eu",
    "assemblyai_api_base_url": "http://127.0.0.1:8765/",
    "recordings_prefix": "calls/in",
    "recording_suffixes": ".wav,.mp3",
    "suffix_case_variants": False,
    "default_profile": "sales",
    "audio_delivery": "upload",
    "presign_ttl_seconds": 900,
    "poll_initial_seconds": 3,
    "poll_max_seconds": 30,
    "poll_backoff": 2,
    "transcription_timeout_seconds": 600,
    "analysis_max_concurrency": 2,
    "transcription_concurrency": 200,
    "llm_requests_per_minute": {"claude-sonnet-4-5-20250929": 28, "*": 20},  # per model; the default is one int
    "slot_wait_budget_seconds": 7200,
    "analysis_wait_budget_seconds": 900,
    "log_retention_days": 7,
    "log_level": "DEBUG",
    "start_call_reserved_concurrency": 5,
    "removal_policy": "destroy",
    "results_expiration_days": 90,
    "nag": False,
}


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The default deployment, synthesized with the cdk-nag plugin (synth raises on any unacknowledged error)."""
    return synthesize({}, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def alt_synth(tmp_path_factory) -> Synth:
    return synthesize(ALT_CONTEXT, tmp_path_factory.mktemp("cdk-alt"))


@pytest.fixture(scope="session")
def template(synth: Synth):
    return synth.template


@pytest.fixture(scope="session")
def cdk_json() -> dict:
    return json.loads((REPO_ROOT / "cdk.json").read_text())
