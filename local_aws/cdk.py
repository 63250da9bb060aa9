"""Synthesize a CDK app (``python app.py``) into a cloud assembly, cached by the content of its sources.

``cdk synth`` (the Node CLI) is not needed: the app itself writes the assembly when ``CDK_OUTDIR``
is set, and reads context from ``CDK_CONTEXT_JSON`` (which we fill from ``cdk.json`` + overrides,
as the CLI would).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from importlib.metadata import version
from pathlib import Path

DEFAULT_SOURCES = ("app.py", "cdk.json", "infra", "functions")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
KEEP_ASSEMBLIES = 4


class SynthError(RuntimeError):
    pass


def _source_files(app_dir: Path, sources: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for name in sources:
        path = app_dir / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*")
                      if p.is_file() and not SKIP_PARTS.intersection(p.parts) and p.suffix != ".pyc"]
    return sorted(files)


def assembly_key(app_dir: Path, context: dict, sources: tuple[str, ...] = DEFAULT_SOURCES,
                 environment: tuple[str, str] | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(f"aws-cdk-lib=={version('aws-cdk-lib')}\n".encode())
    digest.update(json.dumps([context, environment], sort_keys=True).encode())
    for path in _source_files(app_dir, sources):
        digest.update(str(path.relative_to(app_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def app_context(app_dir: Path, overrides: dict) -> dict:
    """cdk.json's ``context`` + overrides, like ``cdk synth -c key=value`` would pass them."""
    cdk_json = app_dir / "cdk.json"
    context = dict(json.loads(cdk_json.read_text()).get("context", {})) if cdk_json.exists() else {}
    context.update(overrides)
    return context


def synth(app_dir: Path, out_root: Path, context_overrides: dict | None = None,
          sources: tuple[str, ...] = DEFAULT_SOURCES, timeout: float = 600,
          environment: tuple[str, str] | None = None) -> tuple[Path, bool]:
    """Return (assembly dir, cached?). Re-synthesizes only when a source file or the context changed.
    `environment` = (account, region) binds the stack as the CDK CLI does (CDK_DEFAULT_ACCOUNT/REGION)."""
    app_dir, out_root = Path(app_dir).resolve(), Path(out_root).resolve()
    if not (app_dir / "app.py").exists():
        raise SynthError(f"no CDK app at {app_dir / 'app.py'}")
    context = app_context(app_dir, context_overrides or {})
    out_dir = out_root / assembly_key(app_dir, context, sources, environment)
    if (out_dir / "manifest.json").exists():
        return out_dir, True
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".tmp-{uuid.uuid4().hex}"
    env = {**os.environ, "CDK_OUTDIR": str(tmp), "CDK_CONTEXT_JSON": json.dumps(context),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("CDK_DEFAULT_ACCOUNT", None)
    env.pop("CDK_DEFAULT_REGION", None)
    if environment:
        env["CDK_DEFAULT_ACCOUNT"], env["CDK_DEFAULT_REGION"] = environment
    try:
        proc = subprocess.run([sys.executable, "app.py"], cwd=app_dir, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SynthError(f"`python app.py` did not finish within {timeout}s") from exc
    if proc.returncode != 0 or not (tmp / "manifest.json").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise SynthError(f"`python app.py` failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    try:
        tmp.rename(out_dir)
    except OSError:  # synthesized concurrently by someone else: theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(out_root, keep=out_dir)
    return out_dir, False


def _prune(out_root: Path, keep: Path) -> None:
    assemblies = sorted((p for p in out_root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    for old in assemblies[KEEP_ASSEMBLIES:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
