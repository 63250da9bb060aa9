"""Helpers shared by the edge tests: settings for a test run, running the CLI as a subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from edge_client.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# Faster-than-real-time pacing for tests: the local server is configured with enforce_realtime=false
# (the real service requires speed 1). Everything else about the session is unchanged.
SPEED = 3.0
TURN_SILENCE_MS = 500  # the sample calls pause 0.3-1.1 s between utterances


def edge_settings(tmp_path: Path, ws_url: str, **overrides) -> Settings:
    base = {"api_url": ws_url, "data_dir": str(tmp_path / "edge-data"), "agent_id": "pc-test-01",
            "source_speed": SPEED, "catchup_rate": max(SPEED, 2.0), "max_lead_s": 3600.0,
            "reconnect_base": 0.2, "reconnect_cap": 1.0, "terminate_timeout": 20.0, "connect_timeout": 5.0,
            "ping_interval": 5.0, "ping_timeout": 3.0, "drain_timeout": 15.0, "log_file": "none",
            "speech_model": "u3-rt-pro", "model": "claude-sonnet-4-6", "publish_backoff_cap": 1.0,
            "max_turn_silence": TURN_SILENCE_MS}
    base.update(overrides)
    return load_settings(base, env={})


def cli_env(api_key: str, aws_endpoint: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CLIENT_")}
    env.update({"ASSEMBLYAI_API_KEY": api_key, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT),
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    env.pop("AWS_ENDPOINT_URL", None)
    if aws_endpoint:
        env["AWS_ENDPOINT_URL"] = aws_endpoint
    env.update(extra)
    return env


def cli_args(tmp_path: Path, ws_url: str, *more: str, speed: float = SPEED) -> list[str]:
    return [sys.executable, "-m", "edge_client", "--api-url", ws_url, "--data-dir", str(tmp_path / "edge-data"),
            "--agent-id", "pc-test-01", "--log-file", "none", "--source-speed", str(speed),
            "--catchup-rate", str(max(speed, 2.0)), "--max-lead-s", "3600", "--reconnect-base", "0.2",
            "--terminate-timeout", "30", "--drain-timeout", "3", "--publish-backoff-cap", "1",
            "--max-turn-silence", str(TURN_SILENCE_MS), *more]


class CliRun:
    """`python -m edge_client` in a subprocess, stdout+stderr to a file we can poll."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._fh = open(log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=self._fh, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output
            if predicate(out):
                return out
            if self.proc.poll() is not None:
                raise AssertionError(f"client exited ({self.proc.returncode}) before the condition:\n{out[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"condition not met within {timeout}s:\n{self.output[-4000:]}")

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._fh.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._fh.close()


def outbox_rows(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT dedup_key, dead FROM outbox ORDER BY id").fetchall()
