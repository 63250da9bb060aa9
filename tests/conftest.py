"""Fixtures shared by every test suite: free ports and the local AssemblyAI-compatible server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_API_KEY = "local-test-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@dataclass
class AaiServer:
    """A running local AssemblyAI-compatible server (a real product process, not a test double)."""

    port: int
    api_key: str
    proc: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def llm_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v3/ws"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_aai_server(tmp_dir: Path, config: dict | None = None, api_key: str = TEST_API_KEY) -> AaiServer:
    """Start `python -m local_assemblyai serve` on a free port with an optional JSON config."""
    port = free_port()
    cfg = {"api_keys": [api_key], "data_dir": str(tmp_dir / "aai-data"), **(config or {})}
    cfg_path = tmp_dir / f"aai-config-{port}.json"
    cfg_path.write_text(json.dumps(cfg))
    log = open(tmp_dir / f"aai-server-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "local_assemblyai", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(cfg_path)],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    server = AaiServer(port=port, api_key=api_key, proc=proc)
    try:
        wait_until_ready(f"{server.base_url}/health", proc)
    except Exception:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def aai_server(tmp_path_factory):
    """One local AssemblyAI server for the whole session (default config, shared transcript cache)."""
    server = start_aai_server(tmp_path_factory.mktemp("aai"))
    yield server
    server.stop()
