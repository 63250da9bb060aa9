"""The whole pipeline on one machine: local AssemblyAI server + local AWS + the REAL stack deployed into it.

    with LocalStack(LocalStackOptions(wait_scale=0.1)) as stack:   # or stack.start() / stack.stop()
        stack.outputs["RecordingsBucketName"], stack.client("s3"), ...

Steps: synthesize ``app.py`` (cached; bound to the local account and region with cdk-nag on, exactly as the CDK CLI
synthesizes it) with the AssemblyAI base URLs pointed at the local server, start the local AWS, run the genuine
``cdk bootstrap`` and ``cdk deploy --app <assembly>`` into it, put the API key into the stack's secret, write the
state file that ``callctl`` reads. With ``ASSEMBLYAI_API_KEY`` set (``real_assemblyai``), the default AssemblyAI URLs
and ``audio_delivery=upload`` are used instead (the local bucket is not reachable from AssemblyAI).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from local_aws import persistence
from local_aws.assemblyai import AssemblyAiServer, start_assemblyai
from local_aws.cdk import app_context, synth
from local_aws.cdk_cli import CdkCli
from local_aws.process import REGION, REPO_ROOT, LocalAwsProcess, start_local_aws
from local_aws.server import ACCOUNT_ID

DEFAULT_WORK_DIR = REPO_ROOT / ".cache" / "local-stack"
STATE_FILE_NAME = "state.json"
SECRET_OUTPUT = "ApiKeySecretArn"


@dataclass
class LocalStackOptions:
    work_dir: Path = DEFAULT_WORK_DIR
    app_dir: Path = REPO_ROOT
    aws_port: int = 0
    lambda_mode: str = "subprocess"
    wait_scale: float = 1.0
    #: use an already running local AssemblyAI server (tests) instead of starting one
    assemblyai: AssemblyAiServer | None = None
    assemblyai_port: int | None = None
    #: the real AssemblyAI API key (default: $ASSEMBLYAI_API_KEY); when set, no local server is used
    real_api_key: str | None = field(default_factory=lambda: os.environ.get("ASSEMBLYAI_API_KEY") or None)
    context: dict[str, Any] = field(default_factory=dict)
    write_state: bool = True
    #: let `cdk deploy` synthesize the app (as a user's deploy does) instead of deploying the cached assembly
    cli_synth: bool = False
    #: keep the stack's data across restarts: snapshot on stop, restore on start (local_aws.persistence)
    persist: bool = False


@dataclass
class Timings:
    synth_s: float = 0.0
    synth_cached: bool = False
    assemblyai_start_s: float = 0.0
    aws_start_s: float = 0.0
    bootstrap_s: float = 0.0
    deploy_s: float = 0.0


class LocalStack:
    def __init__(self, options: LocalStackOptions | None = None,
                 progress: Callable[[str], None] | None = None):
        self.options = options or LocalStackOptions()
        self.progress = progress or (lambda message: None)
        self.aws: LocalAwsProcess | None = None
        self.assemblyai: AssemblyAiServer | None = None
        self._own_assemblyai = False
        self.outputs: dict[str, str] = {}
        self.stack_name: str = ""
        self.cdk: CdkCli | None = None
        self.restored: persistence.SnapshotSummary | None = None
        self.saved: persistence.SnapshotSummary | None = None
        self.context: dict[str, Any] = {}
        self.timings = Timings()

    @property
    def real_assemblyai(self) -> bool:
        return bool(self.options.real_api_key) and self.options.assemblyai is None

    @property
    def endpoint_url(self) -> str:
        return self.aws.endpoint_url

    @property
    def state_file(self) -> Path:
        return Path(self.options.work_dir) / STATE_FILE_NAME

    def client(self, service: str, **config: Any) -> Any:
        return self.aws.client(service, **config)

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        opts = self.options
        work_dir = Path(opts.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.real_assemblyai:
                if opts.assemblyai is not None:
                    self.assemblyai = opts.assemblyai
                else:
                    self.progress("starting the local AssemblyAI server")
                    started = time.monotonic()
                    # the edge client may stream a file faster than real time here (callctl live --speed,
                    # the demo's live call); a microphone is real time anyway
                    self.assemblyai = start_assemblyai(work_dir, port=opts.assemblyai_port,
                                                       extra_config={"streaming": {"enforce_realtime": False}})
                    self._own_assemblyai = True
                    self.timings.assemblyai_start_s = time.monotonic() - started
            self.context = self._context()
            assembly = None
            if not opts.cli_synth:
                self.progress("synthesizing the CDK app")
                started = time.monotonic()
                assembly, cached = synth(opts.app_dir, work_dir / "cdk.out", self.context,
                                         environment=(ACCOUNT_ID, REGION))
                self.timings.synth_s, self.timings.synth_cached = time.monotonic() - started, cached

            self.progress("starting the local AWS")
            started = time.monotonic()
            self.aws = start_local_aws(work_dir / "aws", port=opts.aws_port, lambda_mode=opts.lambda_mode,
                                       wait_scale=opts.wait_scale)
            self.timings.aws_start_s = time.monotonic() - started

            self.cdk = CdkCli(self.aws.endpoint_url, app_dir=opts.app_dir)
            self.progress("cdk bootstrap")
            self.timings.bootstrap_s = self.cdk.bootstrap().seconds
            self.progress("cdk deploy")
            self.stack_name = str(app_context(opts.app_dir, self.context)["stack_name"])
            if assembly is None:  # the CLI synthesizes the app itself
                self.timings.deploy_s = self.cdk.deploy(self.stack_name, context=self.context,
                                                        outdir=self.cli_outdir).seconds
            else:
                self.timings.deploy_s = self.cdk.deploy(self.stack_name, assembly=assembly).seconds
            self.outputs = self.stack_outputs()
            self._put_api_key()
            if opts.persist and persistence.has_snapshot(work_dir):
                self.progress("restoring the data of the last run")
                self.restored = persistence.restore(self.aws.client, self.stack_name, self.outputs, work_dir)
            if opts.write_state:
                self.write_state()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def cli_outdir(self) -> Path:
        return Path(self.options.work_dir) / "cdk.out-cli"

    def redeploy(self, context_changes: dict[str, Any]) -> float:
        """`cdk deploy` again with changed context (the CLI synthesizes); returns its seconds."""
        self.context = {**self.context, **context_changes}
        seconds = self.cdk.deploy(self.stack_name, context=self.context, outdir=self.cli_outdir).seconds
        self.outputs = self.stack_outputs()
        return seconds

    def stack_outputs(self) -> dict[str, str]:
        stack = self.aws.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _context(self) -> dict[str, Any]:
        # the functions' runtime = this interpreter's minor version, so a bundled layer's wheels import here
        context: dict[str, Any] = {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}"}
        if self.real_assemblyai:
            context["audio_delivery"] = "upload"
        else:
            context["assemblyai_api_base_url"] = self.assemblyai.base_url
            context["assemblyai_llm_base_url"] = self.assemblyai.llm_base_url
        context.update(self.options.context)
        return context

    def _put_api_key(self) -> None:
        secret_arn = self.outputs.get(SECRET_OUTPUT)
        if not secret_arn:
            raise RuntimeError(f"the stack has no {SECRET_OUTPUT} output")
        key = self.options.real_api_key if self.real_assemblyai else self.assemblyai.api_key
        self.aws.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=key)

    def write_state(self) -> None:
        state = {
            "endpoint_url": self.endpoint_url, "region": REGION, "stack_name": self.stack_name,
            "outputs": self.outputs, "pid": os.getpid(), "local_aws_pid": self.aws.proc.pid,
            "assemblyai_base_url": None if self.real_assemblyai else self.assemblyai.base_url,
            "real_assemblyai": self.real_assemblyai, "lambda_mode": self.options.lambda_mode,
            "wait_scale": self.options.wait_scale, "started_at": time.time(), "timings": asdict(self.timings),
            "lambda_log": str(self.aws.lambda_log_path),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)

    def stop(self) -> None:
        if self.options.persist and self.aws is not None and self.aws.alive() and self.outputs:
            try:
                self.saved = persistence.save(self.aws.client, self.stack_name, Path(self.options.work_dir))
            except Exception as exc:  # never lose the shutdown over it; say so
                self.progress(f"could not save the local stack's data: {exc}")
        if self.options.write_state and self.state_file.exists():
            try:
                if json.loads(self.state_file.read_text()).get("pid") == os.getpid():
                    self.state_file.unlink()
            except (OSError, ValueError):
                pass
        if self.aws is not None:
            self.aws.stop()
        if self._own_assemblyai and self.assemblyai is not None:
            self.assemblyai.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
