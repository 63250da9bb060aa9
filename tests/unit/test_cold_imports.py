"""Cold start (issue 13): WHICH modules a handler's import loads (never how long it takes: timing is bench/'s job).

Each handler is imported in a fresh interpreter; the heavy modules that Powertools or pydantic would pull in
(the X-Ray SDK via Tracer, the batch utility, every event data class, idempotency/parameters, boto3's clients)
must load at the first invocation, not at import, and no pydantic validator may be built at import
(defer_build). The lazily built Tracer still traces when tracing is on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = sorted(p.stem for p in (FUNCTIONS_DIR / "call_analytics" / "handlers").glob("*.py")
                  if p.stem != "__init__")

#: not loaded by any handler's import (each one loads at first use: tracer.real(), wiring, the handler body)
HEAVY_MODULES = (
    "aws_xray_sdk.core",
    "asyncio",
    "boto3",
    "botocore.session",
    "botocore.client",
    "requests",
    "urllib3",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
    "pydantic_settings",
    "importlib.metadata",  # pydantic's plugin loader: only once a validator is built
)

_PROBE = """
import json, sys
import call_analytics.handlers.{name} as module
from pydantic import BaseModel

built = sorted(
    f"{{cls.__module__}}.{{cls.__qualname__}}"
    for mod_name, mod in list(sys.modules.items()) if mod_name.startswith("call_analytics")
    for cls in vars(mod).values()
    if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel
    and cls.__module__ == mod_name and cls.__pydantic_complete__
)
print(json.dumps({{"modules": sorted(sys.modules), "built": built,
                  "handler": callable(getattr(module, "handler", None))}}))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_XRAY", "_X_AMZN"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    env.update(POWERTOOLS_SERVICE_NAME="call-analytics", POWERTOOLS_METRICS_NAMESPACE="CallAnalytics",
               POWERTOOLS_LOG_LEVEL="WARNING", PYTHONPATH=str(FUNCTIONS_DIR), **extra)
    return env


def _run(code: str, **env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=FUNCTIONS_DIR, env=_env(**env))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", HANDLERS)
def test_handler_import_defers_heavy_modules(name):
    probe = _run(_PROBE.format(name=name))
    assert probe["handler"]
    loaded = set(probe["modules"])
    assert [m for m in HEAVY_MODULES if m in loaded] == []
    assert probe["built"] == [], "pydantic validators built at import (use defer_build=True)"


def test_handlers_found():
    assert {"start_call", "check_transcript", "dead_letters", "store_live_insight"} <= set(HANDLERS)


_TRACED = """
import json, sys
from call_analytics.observability import tracer

assert not tracer.built and "aws_xray_sdk.core" not in sys.modules

sent = []


class Emitter:
    def send_entity(self, entity):
        sent.append(entity.to_dict())

    def set_daemon_address(self, address):
        pass

    @property
    def ip(self):
        return "127.0.0.1"

    @property
    def port(self):
        return 2000


@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    import botocore.client
    import requests

    return {{"patched": [hasattr(botocore.client.BaseClient._make_api_call, "__wrapped__"),
                         hasattr(requests.Session.request, "__wrapped__")], "echo": event}}


assert not tracer.built  # decorating builds nothing
from aws_xray_sdk.core import xray_recorder

xray_recorder.configure(emitter=Emitter())
result = handler({{"a": 1}}, None)
print(json.dumps({{"built": tracer.built, "disabled": tracer.disabled, "result": result,
                  "names": [e.get("name") for e in sent]}}))
"""


def test_lazy_tracer_traces_when_enabled():
    """Tracing on (in a Lambda environment): the first invocation builds Powertools' Tracer, which patches
    botocore/requests and records the `## handler` subsegment, as the eagerly built Tracer did."""
    out = _run(_TRACED.format(), LAMBDA_TASK_ROOT=str(FUNCTIONS_DIR), AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
               _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    assert out["built"] and out["disabled"] is False
    assert out["result"] == {"patched": [True, True], "echo": {"a": 1}}
    assert "## handler" in out["names"]


def test_lazy_tracer_disabled_by_env():
    code = """
import json
from call_analytics.observability import tracer

@tracer.capture_lambda_handler
def handler(event, context):
    return event

print(json.dumps({"result": handler({"x": 2}, None), "built": tracer.built, "disabled": tracer.disabled}))
"""
    out = _run(code, LAMBDA_TASK_ROOT=str(FUNCTIONS_DIR), POWERTOOLS_TRACE_DISABLED="1")
    assert out == {"result": {"x": 2}, "built": True, "disabled": True}
