"""Row modules, in table order. Each has TITLE, IN_SMOKE and run(ctx) -> list[Row]; a missing dependency
raises bench.core.Unavailable (printed as `n/a: <reason>`)."""

from __future__ import annotations

import importlib
from types import ModuleType

from bench.core import Unavailable

#: key (for --only) -> title used if the module itself cannot be imported
ROW_MODULES = {
    "llm_tokens": "LLM input tokens / phase validity",
    "analysis_quality": "offline engine: phases / action items / yes-no",
    "cold_start": "handler cold import / Lambda asset size",
    "polling": "polls and state transitions per call",
    "stt": "offline engine RTF / WER",
    "stack": "local stack overhead / burst",
    "edge": "edge client CPU / memory",
    "reliability": "reliability under a fault storm",
    "diarization": "mono diarization: speaker-word accuracy / turns",
    "streaming_cost": "local server streaming CPU per audio second, first vs last minute",
}


def load_row_module(key: str) -> ModuleType:
    try:
        return importlib.import_module(f"bench.rows.{key}")
    except ImportError as exc:
        raise Unavailable(f"cannot import bench.rows.{key}: {exc}") from None
