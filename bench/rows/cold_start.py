"""Row 2: handler cold import and Lambda asset size.

Cold import: a fresh interpreter per measurement (`python -c`), timing only the import statement (not the
interpreter start), best of N; the seeds and every handler take turns in each of the N rounds, so a change in
the machine's load hits them alike (the ratio is the comparable figure, the milliseconds move with the load).
Seeds: `import requests` (+ json, time), everything the cookbook scripts import. Ours: each handler module
`call_analytics.handlers.<name>` (Powertools Logger/Metrics, pydantic models, settings), one row each, against
the issue-13 target of 300 ms. What the handlers defer to their first invocation is measured separately, in the
same interpreters: Powertools' Tracer (the X-Ray SDK, `tracer.real()`), then `import boto3` + one client (wiring).
Measured on this machine's Python (3.11); Lambda runs 3.12.

Asset size: deflate-compressed zip (level 6, like `zip`), no __pycache__/.pyc. Seeds: requests and its
dependencies from this virtualenv. Ours: functions/ (the code asset, with infra's excludes) + the
dependency layer (functions/requirements.txt resolved from this virtualenv's installed metadata, minus
what the runtime provides, as infra/layer.py prunes). The real layer is built by pip for manylinux/3.12,
so its size differs slightly.
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from bench.core import FUNCTIONS_DIR, REPO_ROOT, Context, Row, Unavailable
from bench.functions_code import LAMBDA_BASE_ENV

TITLE = "handler cold import / Lambda asset size"
IN_SMOKE = True

SEEDS_IMPORT = "import json, time, requests"
BOTO_STAGE = "import boto3\nboto3.client('s3', region_name='us-east-1')"
#: what the handlers build at their first invocation instead of at import (call_analytics/observability.py)
TRACER_STAGE = "from call_analytics.observability import tracer\ntracer.real()"
#: issue 13: each handler's cold import under this
TARGET_MS = 300.0
CODE_EXCLUDE_DIRS = {"__pycache__", ".pytest_cache"}
CODE_EXCLUDE_SUFFIXES = (".pyc",)
CODE_EXCLUDE_NAMES = {"requirements.txt"}


def _handler_modules() -> list[str]:
    handlers = FUNCTIONS_DIR / "call_analytics" / "handlers"
    names = sorted(p.stem for p in handlers.glob("*.py") if p.stem != "__init__")
    if not names:
        raise Unavailable(f"no handler modules in {handlers}")
    return [f"call_analytics.handlers.{n}" for n in names]


def _run_stages(stages: list[str], env: dict[str, str]) -> list[float]:
    code = "import time as _t\n" + "".join(
        f"_s = _t.perf_counter()\n{stage}\nprint(_t.perf_counter() - _s)\n" for stage in stages)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=FUNCTIONS_DIR)
    if proc.returncode != 0:
        raise RuntimeError(f"`{stages}` failed: {proc.stderr.strip()[-500:]}")
    return [float(v) for v in proc.stdout.strip().splitlines()[-len(stages):]]


def _import_seconds(runs: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Per run and stage, the best of `repeats` fresh interpreters, timing only the stage's statements. The runs
    take turns in each round (round-robin), so the seeds and the handlers see the same load."""
    env = {**os.environ, **LAMBDA_BASE_ENV, "PYTHONPATH": str(FUNCTIONS_DIR)}
    env.pop("AWS_ENDPOINT_URL", None)
    for key in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "_X_AMZN_TRACE_ID"):  # the same Tracer for all
        env.pop(key, None)
    best = {name: [float("inf")] * len(stages) for name, stages in runs.items()}
    for _ in range(repeats):
        for name, stages in runs.items():
            values = _run_stages(stages, env)
            best[name] = [min(b, v) for b, v in zip(best[name], values, strict=True)]
    return best


def _target_note(ms: float) -> str:
    return f"under the {TARGET_MS:.0f} ms target" if ms < TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target " \
        f"by {ms - TARGET_MS:.0f} ms"


def _runtime_provided() -> tuple[str, ...]:
    """RUNTIME_PROVIDED from infra/layer.py (read, not imported: importing infra loads aws-cdk)."""
    layer = REPO_ROOT / "infra" / "layer.py"
    if layer.exists():
        for node in ast.walk(ast.parse(layer.read_text())):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "RUNTIME_PROVIDED" for t in node.targets):
                return tuple(ast.literal_eval(node.value))
    return ("boto3", "botocore", "s3transfer")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str], exclude: tuple[str, ...]) -> list[metadata.Distribution]:
    """Installed distributions needed by `requirements` (extras and environment markers honoured)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(r), None) for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra or ""}):
            continue
        key = _norm(req.name)
        if key in {_norm(e) for e in exclude}:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise Unavailable(f"dependency {req.name} is not installed in this virtualenv") from None
        new = key not in seen
        seen[key] = dist
        for wanted in ([None] if new else []) + sorted(req.extras):
            for sub in dist.requires or []:
                todo.append((Requirement(sub), wanted))
    return sorted(seen.values(), key=lambda d: _norm(d.metadata["Name"]))


def _requirements_file(path: Path) -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("-")]


def _zip_size(files: list[tuple[Path, str]]) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path, arcname in sorted(files, key=lambda f: f[1]):
            zf.write(path, arcname)
    return buf.getbuffer().nbytes


def _dist_files(dists: list[metadata.Distribution]) -> list[tuple[Path, str]]:
    out = []
    for dist in dists:
        for f in dist.files or []:
            parts = Path(str(f)).parts
            if any(p in CODE_EXCLUDE_DIRS for p in parts) or str(f).endswith(CODE_EXCLUDE_SUFFIXES):
                continue
            if parts and parts[0] in ("..", "bin"):
                continue
            path = Path(dist.locate_file(f))
            if path.is_file():
                out.append((path, str(f)))
    return out


def _code_files() -> list[tuple[Path, str]]:
    out = []
    for path in FUNCTIONS_DIR.rglob("*"):
        rel = path.relative_to(FUNCTIONS_DIR)
        excluded = (CODE_EXCLUDE_DIRS.intersection(rel.parts) or path.suffix in CODE_EXCLUDE_SUFFIXES
                    or path.name in CODE_EXCLUDE_NAMES or any(p.endswith(".egg-info") for p in rel.parts))
        if path.is_file() and not excluded:
            out.append((path, str(rel)))
    return out


def run(ctx: Context) -> list[Row]:
    repeats = ctx.options.import_repeats or (1 if ctx.smoke else 7)
    modules = _handler_modules()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ctx.log(f"cold imports: seeds + {len(modules)} handlers, best of {repeats} fresh interpreters each "
            f"(round-robin; load avg {load:.2f})")
    runs = {"seeds": [SEEDS_IMPORT], **{m: [f"import {m}", TRACER_STAGE, BOTO_STAGE] for m in modules}}
    measured = _import_seconds(runs, repeats)
    baseline = measured["seeds"][0]
    ours = {m: measured[m][0] for m in modules}
    slowest = max(ours, key=ours.get)
    short = {m: m.rsplit(".", 1)[1] for m in modules}
    over = [short[m] for m in modules if ours[m] * 1000 >= TARGET_MS]
    listing = ", ".join(f"{short[m]} {ours[m] * 1000:.0f}" for m in modules)
    verdict = (f"all {len(modules)} under {TARGET_MS:.0f} ms" if not over
               else f"{len(over)} of {len(modules)} at/over {TARGET_MS:.0f} ms: {', '.join(over)}")
    rows = [
        Row("cold import, slowest handler (best of N)", baseline * 1000, ours[slowest] * 1000, "ms",
            f"N={repeats}; target {TARGET_MS:.0f} ms per handler: {verdict}; seeds `{SEEDS_IMPORT}`; ours ms: "
            f"{listing}; load avg {load:.2f} at the start of the row; this host's Python {sys.version.split()[0]} "
            f"(Lambda: 3.12)", digits=0),
    ]
    rows += [Row(f"cold import, {short[m]}", baseline * 1000, ours[m] * 1000, "ms",
                 f"{_target_note(ours[m] * 1000)}; best of {repeats}, seeds in the same rounds", digits=0)
             for m in modules]
    tracer_s, boto_s = measured[slowest][1], measured[slowest][2]
    rows.append(Row("cold import + first invocation's deferred loads", baseline * 1000,
                    sum(measured[slowest]) * 1000, "ms",
                    f"ours = {short[slowest]} {ours[slowest] * 1000:.0f} + Tracer built (X-Ray SDK) "
                    f"{tracer_s * 1000:.0f} + `import boto3` + one client {boto_s * 1000:.0f}, timed in the same "
                    "interpreters (the handlers do both at their first invocation, before and in the body); "
                    "the seeds' scripts need neither", digits=0))
    exclude = _runtime_provided()
    seeds_deps = _dist_files(_closure(["requests"], exclude))
    ours_deps = _dist_files(_closure(_requirements_file(FUNCTIONS_DIR / "requirements.txt"), exclude))
    code = _code_files()
    seeds_size, deps_size, code_size = _zip_size(seeds_deps), _zip_size(ours_deps), _zip_size(code)
    mb = 1024 * 1024
    rows.append(Row("Lambda asset size, zipped (code + dependency layer)", seeds_size / mb,
                    (code_size + deps_size) / mb, "MiB",
                    f"ours = functions/ {code_size / 1024:,.0f} KiB + layer {deps_size / mb:.2f} MiB "
                    f"(functions/requirements.txt closure, without {', '.join(exclude)}: the runtime provides "
                    f"them); seeds = requests + deps; from this venv's installed files, no .pyc", digits=2))
    return rows
