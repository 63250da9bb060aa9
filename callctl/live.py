"""`callctl live`: the edge client (python -m edge_client) against the stack's live path.

It takes the live-insights topic, the recordings bucket and prefix from the stack outputs; against the local stack
also the local AssemblyAI server (its streaming URL, and the key from the stack's API-key secret) and the local AWS
endpoint. The edge client prints the turns and LLM answers as they come; callctl then shows what the stack stored:
the call record (status LIVE while no recording has arrived) with its live insights, joined by the batch analyses
once the uploaded recording is processed (`callctl show <call_id>`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from callctl.target import CallctlError, Target, use_functions_package
from edge_client.client import new_call_id  # the edge client's own call-id format

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LiveRun:
    call_id: str
    exit_code: int
    output: str | None  # the edge client's console output when captured (quiet), else it went to the terminal


def streaming_url(target: Target) -> str | None:
    """The local AssemblyAI server's Streaming v3 URL (None against AWS: the edge client's default, or --api-url)."""
    base = (target.state or {}).get("assemblyai_base_url")
    if target.kind != "local" or not base:
        return None
    return base.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/v3/ws"


def local_api_key(target: Target) -> str:
    """The key the local stack put into its API-key secret (the one its own AssemblyAI server accepts)."""
    secret = target.client("secretsmanager").get_secret_value(SecretId=target.output("ApiKeySecretArn"))
    text = secret.get("SecretString") or ""
    try:
        return str(json.loads(text).get("api_key") or "")
    except ValueError:
        return text.strip()


def edge_command(target: Target, *, call_id: str, data_dir: Path, source: Path | None, device: str | None,
                 speed: float, agent_id: str, profile: str, upload: bool, api_url: str | None) -> list[str]:
    args = [sys.executable, "-m", "edge_client", "--call-id", call_id, "--agent-id", agent_id, "--profile", profile,
            "--topic-arn", target.output("LiveInsightsTopicArn"), "--data-dir", str(data_dir), "--log-file", "none",
            "--aws-region", target.region]
    url = api_url or streaming_url(target)
    if url:
        args += ["--api-url", url]
    if target.kind == "local":
        # the local server decodes the last turn and answers its LLM request on this machine's CPU before it
        # sends Termination: give it more than the real service's few seconds
        args += ["--terminate-timeout", "30"]
    if source is not None:
        args += ["--source", str(source), "--source-speed", f"{speed:g}", "--catchup-rate", f"{max(2.0, speed):g}"]
        if speed > 1:
            args += ["--max-lead-s", "3600"]  # a file streamed faster than real time (the local server allows it)
    elif device is not None:
        args += ["--device", device]
    if upload:
        args += ["--upload-bucket", target.output("RecordingsBucketName"),
                 "--upload-prefix", target.outputs.get("RecordingsPrefix") or "recordings/"]
    return args


def edge_env(target: Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CLIENT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if target.kind == "local":
        env.update({"AWS_ENDPOINT_URL": target.endpoint_url or "", "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": target.region,
                    "ASSEMBLYAI_API_KEY": local_api_key(target)})
    return env


def live(target: Target, console: Console, *, source: Path | None = None, device: str | None = None,
         speed: float = 1.0, agent_id: str = "callctl-live", profile: str = "default", upload: bool = True,
         api_url: str | None = None, call_id: str | None = None, data_dir: Path | None = None,
         quiet: bool = False) -> LiveRun:
    if source is not None and not source.is_file():
        raise CallctlError(f"no such recording: {source}")
    call_id = call_id or new_call_id()
    data_dir = data_dir or REPO_ROOT / ".cache" / "edge-live"
    args = edge_command(target, call_id=call_id, data_dir=data_dir, source=source, device=device, speed=speed,
                        agent_id=agent_id, profile=profile, upload=upload, api_url=api_url)
    console.print(f"live call {call_id}: streaming {source or 'the microphone'} "
                  f"({speed:g}x) to {streaming_url(target) or api_url or 'AssemblyAI'}; insights -> "
                  f"{target.output('LiveInsightsTopicArn')}")
    done = subprocess.run(args, cwd=REPO_ROOT, env=edge_env(target), text=True,
                          stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None)
    return LiveRun(call_id=call_id, exit_code=done.returncode, output=done.stdout if quiet else None)


def wait_for_live_insights(target: Target, call_id: str, at_least: int = 1, timeout: float = 60) -> list[dict]:
    """The call's stored live insights once `at_least` have arrived (SNS -> SQS -> store_live_insight)."""
    use_functions_package()
    from call_analytics.adapters.calls_table import CallsTable

    calls = CallsTable(target.output("CallsTableName"), target.client("dynamodb"))
    deadline = time.monotonic() + timeout
    while True:
        items = calls.list_live_insights(call_id)
        if len(items) >= at_least or time.monotonic() > deadline:
            return items
        time.sleep(0.5)
