"""The local AssemblyAI-compatible server (a product process, started and stopped by the benchmark)
and the few REST calls the benchmark makes to it. Every request has a timeout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT, Context, Unavailable

API_KEY = "bench-local-key"
HTTP_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalServer:
    port: int
    proc: subprocess.Popen
    log_path: Path
    api_key: str = API_KEY
    _session: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def session(self):
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.headers["Authorization"] = self.api_key
        return self._session

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    # -- REST v2 ---------------------------------------------------------------------------------
    def transcribe(self, audio: Path, params: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
        """Upload, submit, poll (0.2 s: the benchmark wants the result, not to model a client) -> transcript JSON."""
        with open(audio, "rb") as f:
            r = self.session.post(f"{self.base_url}/v2/upload", data=f, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        body = {"audio_url": r.json()["upload_url"], "speech_models": ["universal-3-pro"], **params}
        r = self.session.post(f"{self.base_url}/v2/transcript", json=body, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        tid = r.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            rec = self.session.get(f"{self.base_url}/v2/transcript/{tid}", timeout=HTTP_TIMEOUT).json()
            if rec["status"] == "completed":
                return rec
            if rec["status"] == "error":
                raise RuntimeError(f"local server failed to transcribe {audio}: {rec.get('error')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"transcript {tid} not completed after {timeout}s")
            time.sleep(0.2)

    def vtt(self, transcript_id: str) -> str:
        r = self.session.get(f"{self.base_url}/v2/transcript/{transcript_id}/vtt", timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.text

    # -- LLM gateway -----------------------------------------------------------------------------
    def chat(self, request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        r = self.session.post(f"{self.base_url}/v1/chat/completions", json=request, timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:300]}")
        return r.json()


def start_server(work_dir: Path, config: dict[str, Any] | None = None, timeout: float = 120) -> LocalServer:
    """`python -m local_assemblyai serve` on a free port. The STT result cache lives in work_dir/stt-cache
    (keyed by audio hash + engine settings) so repeated runs do not decode the same audio again."""
    try:
        import local_assemblyai.app  # noqa: F401  (fail early with a clear reason)
    except ImportError as exc:
        raise Unavailable(f"needs local_assemblyai ({exc})") from None
    import requests

    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="aai-data-", dir=work_dir))
    port = _free_port()
    cfg = {"api_keys": [API_KEY], "data_dir": str(data_dir), "cache_dir": str(work_dir / "stt-cache"),
           **(config or {})}
    cfg_path = data_dir / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local_assemblyai", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--config", str(cfg_path), "--log-level", "WARNING"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    server = LocalServer(port, proc, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-800:]
            raise Unavailable(f"local AssemblyAI server exited ({proc.returncode}): {tail.strip()}")
        try:
            if requests.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise Unavailable(f"local AssemblyAI server not ready after {timeout:.0f}s (see {log_path})")
        time.sleep(0.2)


def shared_server(ctx: Context) -> LocalServer:
    """One default-config server per benchmark run, stopped at the end."""

    def build() -> LocalServer:
        ctx.log("starting the local AssemblyAI server")
        server = start_server(ctx.work_dir)
        ctx.cleanup.callback(server.stop)
        return server

    return ctx.memo("aai_server", build)
