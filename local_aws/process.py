"""Start and stop the local AWS as a child process (``python -m local_aws serve``).

A child keeps moto's process-wide patches, ``MOTO_PORT`` and in-process Lambda state out of the
caller (tests, the CLI). The child stops when we stop it, and also when our process dies (its stdin
closes), so no server is ever left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def local_client(service: str, endpoint_url: str, region: str = REGION, **config: Any) -> Any:
    """A boto3 client for the local AWS: dummy credentials, bounded timeouts, few retries."""
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=region, aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(connect_timeout=5, read_timeout=config.pop("read_timeout", 60),
                      retries={"max_attempts": config.pop("max_attempts", 3), "mode": "standard"}, **config))


@dataclass
class LocalAwsProcess:
    endpoint_url: str
    proc: subprocess.Popen
    work_dir: Path
    lambda_mode: str
    wait_scale: float
    _log: Any = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "local-aws.log"

    @property
    def lambda_log_path(self) -> Path:
        return self.work_dir / "lambda.log"

    def client(self, service: str, **config: Any) -> Any:
        return local_client(service, self.endpoint_url, **config)

    def stats(self) -> dict:
        return requests.get(f"{self.endpoint_url}/_local_aws/stats", timeout=10).json()

    def wait_idle(self, timeout: float = 60) -> bool:
        """Wait until no asynchronous Lambda invocation is queued, running or waiting for a retry."""
        response = requests.post(f"{self.endpoint_url}/_local_aws/wait-idle", params={"timeout": timeout},
                                 timeout=timeout + 10)
        return bool(response.json()["idle"])

    def env(self) -> dict[str, str]:
        """Environment for any AWS SDK/CLI client to talk to this local AWS."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                **LOCAL_CREDENTIALS}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalAwsProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_local_aws(work_dir: Path, port: int = 0, lambda_mode: str = "subprocess", wait_scale: float = 1.0,
                    timeout: float = 60) -> LocalAwsProcess:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ready_file = work_dir / f"ready-{os.getpid()}-{time.monotonic_ns()}.json"
    log = open(work_dir / "local-aws.log", "ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "local_aws", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--lambda-mode", lambda_mode, "--wait-scale", str(wait_scale), "--work-dir", str(work_dir),
         "--ready-file", str(ready_file), "--exit-on-stdin-eof"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    handle = LocalAwsProcess("", proc, work_dir, lambda_mode, wait_scale, log)
    deadline = time.monotonic() + timeout
    try:
        while not ready_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"local AWS exited with code {proc.returncode}; see {work_dir / 'local-aws.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"local AWS not ready after {timeout}s; see {work_dir / 'local-aws.log'}")
            time.sleep(0.05)
        handle.endpoint_url = json.loads(ready_file.read_text())["endpoint"]
        ready_file.unlink()
    except BaseException:
        handle.stop()
        raise
    return handle
