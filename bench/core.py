"""The common Row result type, the run context shared by the row modules, and the table/JSON output."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK_DIR = REPO_ROOT / "build" / "bench"
FUNCTIONS_DIR = REPO_ROOT / "functions"


class Unavailable(Exception):
    """A row cannot run here (a dependency or a part of the system is missing): printed as `n/a: <reason>`."""


@dataclass
class Row:
    """One line of the table: the seeds' approach (baseline) and ours, measured in the same run."""

    name: str
    baseline: float | None
    ours: float | None
    unit: str = ""
    note: str = ""
    digits: int = 1          # decimals shown for the values
    ratio: float | None = None
    status: str = "ok"       # ok | n/a | error

    def __post_init__(self) -> None:
        if self.ratio is None and _number(self.baseline) and _number(self.ours) and self.baseline != 0:
            self.ratio = self.ours / self.baseline

    @classmethod
    def na(cls, name: str, reason: str, status: str = "n/a") -> Row:
        return cls(name=name, baseline=None, ours=None, note=f"{status}: {reason}", status=status)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_value(value: float | None, unit: str, digits: int) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    if ratio == 0:
        return "0"
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:,.1f}"


COLUMNS = ("metric", "seeds' approach", "ours", "ratio (ours/seeds)", "note")


def render_table(rows: list[Row], note_width: int = 0) -> str:
    """One plain-text table, aligned; notes are never cut (note_width > 0 wraps them)."""
    cells = [(r.name, format_value(r.baseline, r.unit, r.digits), format_value(r.ours, r.unit, r.digits),
              format_ratio(r.ratio), r.note) for r in rows]
    widths = [max(len(COLUMNS[i]), *(len(c[i]) for c in cells)) if cells else len(COLUMNS[i]) for i in range(4)]
    right = (False, True, True, True)

    def line(values: tuple[str, ...]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values[:4], widths, right, strict=True)]
        return " | ".join(parts) + " | " + values[4]

    out = [line(COLUMNS), "-+-".join("-" * w for w in widths) + "-+-" + "-" * len(COLUMNS[4])]
    out += [line(c) for c in cells]
    return "\n".join(out)


def machine_description() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "load_avg_1m": round(load[0], 2), "python": sys.version.split()[0],
            "platform": platform.platform(terse=True)}


@dataclass
class Context:
    """What every row module gets: the mode, its options, a work directory and shared, lazily built resources."""

    smoke: bool
    options: Any                           # the parsed CLI namespace (row modules read their own options)
    work_dir: Path = DEFAULT_WORK_DIR
    shared: dict[str, Any] = field(default_factory=dict)
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    started: float = field(default_factory=time.monotonic)

    def log(self, message: str) -> None:
        if not getattr(self.options, "quiet", False):
            print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        """Build a shared resource once per run (a server, the transcribed corpus); failures are memoised too."""
        if key not in self.shared:
            try:
                self.shared[key] = ("ok", build())
            except Unavailable as exc:
                self.shared[key] = ("unavailable", exc)
        kind, value = self.shared[key]
        if kind == "unavailable":
            raise Unavailable(str(value))
        return value


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1))
