"""Access to the Lambda code (functions/, the asset root) from the benchmark, quietly."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from bench.core import FUNCTIONS_DIR, Unavailable

# what every Lambda gets (docs/architecture.md); quiet logs so the benchmark output stays one table
LAMBDA_BASE_ENV = {"POWERTOOLS_SERVICE_NAME": "call-analytics", "POWERTOOLS_METRICS_NAMESPACE": "CallAnalytics",
                   "POWERTOOLS_LOG_LEVEL": "WARNING"}


def use_functions() -> None:
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    for key, value in LAMBDA_BASE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import call_analytics  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"needs functions/call_analytics ({exc})") from None


def quiet_powertools() -> None:
    """Logs at WARNING, metrics dropped (the benchmark calls logic functions outside a handler)."""
    from call_analytics.observability import logger, metrics

    logger.setLevel(logging.WARNING)
    metrics.clear_metrics()


def default_profile_data() -> dict[str, Any]:
    use_functions()
    from call_analytics.profiles.loader import BUNDLED_DIR

    return json.loads((BUNDLED_DIR / "default.json").read_text())


def profile_variant(**llm: Any):
    """The bundled default profile with some `llm` options changed (mode, transcript_format)."""
    from call_analytics.profiles.model import parse_profile

    data = default_profile_data()
    data["llm"] = {**data["llm"], **llm}
    return parse_profile(data, source=f"default with llm {llm}")
