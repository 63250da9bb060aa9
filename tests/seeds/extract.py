"""The tutorials' Python code, taken from /work/shared/seeds as written, with only the endpoints, the API key
and the input file swapped (each swap must find its original text, so a changed tutorial fails loudly)."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

#: the tutorials as the project received them (`../shared/seeds`), copied here so that a clone runs these tests
#: anywhere; test_seeds.py checks the copy against the shared originals wherever those are present
VENDORED_DIR = Path(__file__).resolve().parent / "tutorials"
SHARED_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"  # <root>/main next to <root>/shared
SEEDS_DIR = Path(os.environ.get("SEEDS_DIR") or VENDORED_DIR)


def seed_text(prefix: str) -> str:
    matches = sorted(SEEDS_DIR.glob(f"{prefix}_*.txt"))
    if not matches:
        raise FileNotFoundError(f"no seed {prefix}_*.txt in {SEEDS_DIR}")
    return matches[0].read_text()


def first_python_block(text: str) -> str:
    """The first ```python fenced block (the Quickstart / full sample), dedented."""
    m = re.search(r"```python[^\n]*\n(.*?)\n\s*```", text, re.DOTALL)
    if not m:
        raise ValueError("no ```python block")
    return textwrap.dedent(m.group(1))


def plain_quickstart(text: str, last_line: str) -> str:
    """Code in a page rendered without fences: from the first `import requests` to `last_line` (inclusive)."""
    start = text.index("import requests")
    end = text.index(last_line, start) + len(last_line)
    return text[start:end]


def reindent_like(flat: str, reference: str) -> str:
    """A rendering that lost its indentation (001): every code line must equal, in order, a line of the reference
    rendering of the same tutorial (000) up to whitespace; the reference's indentation is put back."""
    ref_lines = [ln for ln in reference.splitlines() if ln.strip()]
    out, j = [], 0
    for ln in flat.splitlines():
        if not ln.strip():
            continue
        while j < len(ref_lines) and ref_lines[j].strip() != ln.strip():
            j += 1
        if j == len(ref_lines):
            raise ValueError(f"line not in the reference rendering: {ln!r}")
        out.append(ref_lines[j])
        j += 1
    return "\n".join(out) + "\n"


def swap(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        if old not in code:
            raise ValueError(f"the tutorial no longer contains {old!r}")
        code = code.replace(old, new)
    return code


def seed_000() -> str:
    return first_python_block(seed_text("000"))


def seed_001() -> str:
    text = seed_text("001")
    flat = plain_quickstart(text, "print(result)")
    return reindent_like(flat, seed_000())


def seed_002() -> str:
    return first_python_block(seed_text("002"))


def seed_003() -> str:
    return plain_quickstart(seed_text("003"), 'print(response_json["choices"][0]["message"]["content"])')


def seed_004() -> str:
    return first_python_block(seed_text("004"))


def local(code: str, base_url: str, api_key: str, ws_url: str | None = None,
          extra: dict[str, str] | None = None) -> str:
    """Point the code at the local server: the three AssemblyAI hosts and the key placeholders."""
    reps = {}
    if "https://api.assemblyai.com" in code:
        reps["https://api.assemblyai.com"] = base_url
    if "https://llm-gateway.assemblyai.com" in code:
        reps["https://llm-gateway.assemblyai.com"] = base_url
    if ws_url and "wss://streaming.assemblyai.com/v3/ws" in code:
        reps["wss://streaming.assemblyai.com/v3/ws"] = ws_url
    for placeholder in ('"<YOUR_API_KEY>"', '"YOUR_API_KEY"'):
        if placeholder in code:
            reps[placeholder] = repr(api_key)
    if not reps:
        raise ValueError("nothing to point at the local server")
    return swap(swap(code, reps), extra or {})
