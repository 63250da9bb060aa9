"""Start/stop the local AssemblyAI-compatible server (``python -m local_assemblyai serve``) for the local stack."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local_aws.process import REPO_ROOT

PREFERRED_PORT = 8765  # stable port -> the synthesized template (which embeds the URL) stays cached


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AssemblyAiServer:
    """A running local AssemblyAI server (the product's offline engines, not a double)."""

    base_url: str
    api_key: str
    proc: subprocess.Popen | None = None  # None: started by someone else (e.g. the test fixture)
    _log: Any = field(default=None, repr=False)

    @property
    def llm_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def _admin(self, method: str, path: str, **kwargs: Any) -> dict:
        response = requests.request(method, f"{self.base_url}/_local/{path}", timeout=10,
                                    headers={"Authorization": self.api_key}, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        """Request/response/fault counters (GET /_local/stats)."""
        return self._admin("GET", "stats")

    def set_faults(self, rules: list[dict]) -> dict:
        """Replace the fault-injection rules (local_assemblyai/faults.py)."""
        return self._admin("POST", "faults", json={"rules": rules})

    def clear_faults(self) -> dict:
        return self._admin("DELETE", "faults")

    def stop(self, timeout: float = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None


def start_assemblyai(work_dir: Path, port: int | None = None, timeout: float = 90,
                     extra_config: dict | None = None) -> AssemblyAiServer:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = PREFERRED_PORT if port_is_free(PREFERRED_PORT) else free_port()
    api_key = f"local-{secrets.token_hex(12)}"
    config = {"api_keys": [api_key], "data_dir": str(work_dir / "aai-data"), **(extra_config or {})}
    config_path = work_dir / "aai-config.json"
    config_path.write_text(json.dumps(config, indent=1))
    log = open(work_dir / "local-assemblyai.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local_assemblyai", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(config_path)],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    server = AssemblyAiServer(f"http://127.0.0.1:{port}", api_key, proc, log)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"local AssemblyAI server exited with code {proc.returncode}; "
                                   f"see {work_dir / 'local-assemblyai.log'}")
            try:
                if requests.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                    return server
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"local AssemblyAI server not ready after {timeout}s")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
