"""The genuine AWS CDK CLI (pinned in package.json, installed by `npm ci`) pointed at the local AWS.

`cdk bootstrap`, `cdk deploy`, `cdk diff` and `cdk destroy` run exactly as a user runs them against AWS; only the
environment differs: `AWS_ENDPOINT_URL` is the local AWS, the credentials are dummies, and the account is the one
the local AWS reports through STS. The CLI binds the stack to that account and region, and cdk-nag stays on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws.process import LOCAL_CREDENTIALS, REGION, REPO_ROOT
from local_aws.server import ACCOUNT_ID

CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"
#: generous: a bundled first deploy runs pip for the dependency layer
DEFAULT_TIMEOUT = 900


class CdkCliError(RuntimeError):
    """The CDK CLI is missing or one of its commands failed (the message carries the tail of its output)."""


@dataclass(frozen=True)
class CdkResult:
    returncode: int
    output: str
    seconds: float


def context_args(context: dict[str, Any]) -> list[str]:
    """`-c key=value` for each entry; non-strings as JSON (infra.config accepts JSON spellings)."""
    args: list[str] = []
    for key, value in sorted(context.items()):
        args += ["-c", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return args


class CdkCli:
    def __init__(self, endpoint_url: str, app_dir: Path = REPO_ROOT, region: str = REGION,
                 cdk_bin: Path = CDK_BIN):
        if not Path(cdk_bin).exists():
            raise CdkCliError(f"the pinned CDK CLI is not installed ({cdk_bin}): run `npm ci` (or `make venv`)")
        if not shutil.which("node"):
            raise CdkCliError("Node.js is needed for the CDK CLI: install nodejs (make system-deps)")
        self.endpoint_url = endpoint_url
        self.app_dir = Path(app_dir)
        self.region = region
        self.cdk_bin = Path(cdk_bin)

    @property
    def environment(self) -> str:
        return f"aws://{ACCOUNT_ID}/{self.region}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            **LOCAL_CREDENTIALS,
            "CDK_DISABLE_VERSION_CHECK": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            # the app runs with this interpreter, so `python3` on PATH need not be the project's venv
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        })
        return env

    def run(self, args: list[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> CdkResult:
        command = [str(self.cdk_bin), *args, "--no-notices", "--no-color", "--ci"]
        started = time.monotonic()
        try:
            proc = subprocess.run(command, cwd=self.app_dir, env=self.env(), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise CdkCliError(f"`cdk {args[0]}` did not finish within {timeout:.0f} s") from exc
        result = CdkResult(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
        if check and proc.returncode != 0:
            raise CdkCliError(f"`cdk {' '.join(args[:1])}` failed (exit {proc.returncode}):\n{result.output[-4000:]}")
        return result

    def app_args(self, app: Path | None, context: dict[str, Any], outdir: Path | None) -> list[str]:
        """`--app` is this project's app (synthesized by the CLI) or an already synthesized cloud assembly."""
        args = ["--app", str(app) if app else f"{sys.executable} app.py"]
        if outdir is not None and app is None:
            args += ["--output", str(outdir)]
        return args + ([] if app else context_args(context))

    def bootstrap(self) -> CdkResult:
        return self.run(["bootstrap", self.environment, "--app", ""])

    def deploy(self, stack_name: str, *, assembly: Path | None = None, context: dict[str, Any] | None = None,
               outdir: Path | None = None) -> CdkResult:
        return self.run(["deploy", stack_name, *self.app_args(assembly, context or {}, outdir),
                         "--require-approval", "never"])

    def diff(self, stack_name: str, *, assembly: Path | None = None, context: dict[str, Any] | None = None,
             outdir: Path | None = None) -> CdkResult:
        """Exit code 0 = no differences (`--fail` makes differences exit 1)."""
        return self.run(["diff", stack_name, *self.app_args(assembly, context or {}, outdir), "--fail"], check=False)

    def destroy(self, stack_name: str, *, assembly: Path | None = None, context: dict[str, Any] | None = None,
                outdir: Path | None = None) -> CdkResult:
        return self.run(["destroy", stack_name, *self.app_args(assembly, context or {}, outdir), "--force"])
