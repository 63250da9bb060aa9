"""Which deployment a command talks to: the local stack or AWS, and the stack's outputs.

Order: ``--local`` / ``--aws`` flags, then ``CALLCTL_ENDPOINT_URL`` (any local AWS endpoint), then the state
file written by ``callctl up`` (``.cache/local-stack/state.json``, or ``CALLCTL_STATE``) when its stack is
still running, else AWS with the default credential chain. Outputs always come from CloudFormation
``describe_stacks`` by stack name (``--stack`` / ``CALLCTL_STACK`` / the state file / ``CallAnalytics``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
DEFAULT_STATE_FILE = REPO_ROOT / ".cache" / "local-stack" / "state.json"
DEFAULT_STACK = "CallAnalytics"
LOCAL_REGION = "us-east-1"


class CallctlError(Exception):
    """A problem the user can fix; printed without a traceback."""


def use_functions_package() -> None:
    """The CLI reuses the Lambda package's models (Profile, CallsTable): make `call_analytics` importable."""
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))


def state_file() -> Path:
    return Path(os.environ.get("CALLCTL_STATE") or DEFAULT_STATE_FILE)


def read_state() -> dict | None:
    path = state_file()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Target:
    kind: str  # "local" | "aws"
    region: str
    stack_name: str
    endpoint_url: str | None = None
    state: dict = field(default_factory=dict)
    _outputs: dict[str, str] | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        where = self.endpoint_url if self.kind == "local" else f"AWS {self.region}"
        return f"{self.stack_name} @ {where}"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
            if self.kind == "local":
                self._clients[service] = boto3.client(
                    service, endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id="local",
                    aws_secret_access_key="local", config=config)
            else:
                self._clients[service] = boto3.client(service, region_name=self.region, config=config)
        return self._clients[service]

    @property
    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            self._outputs = self._read_outputs()
        return self._outputs

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CallctlError(f"stack {self.stack_name} has no output {key!r} (is it the call-analytics stack?)")
        return value

    def _read_outputs(self) -> dict[str, str]:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
        except NoCredentialsError:
            raise CallctlError("no AWS credentials found: configure them (aws configure / AWS_PROFILE), or use "
                               "the local stack: `python -m callctl up` then `--local`") from None
        except ClientError as exc:
            if "does not exist" in str(exc):
                if self.kind == "local":
                    raise CallctlError(f"stack {self.stack_name} is not deployed in the local AWS at "
                                       f"{self.endpoint_url} (`python -m callctl up` deploys it; or pass --stack NAME)"
                                       ) from None
                raise CallctlError(f"stack {self.stack_name} is not deployed in AWS {self.region} "
                                   f"(deploy it with `make deploy`, or pass --stack NAME / --region)") from None
            raise CallctlError(f"cannot read stack {self.stack_name}: {exc}") from None
        except BotoCoreError as exc:
            raise CallctlError(f"cannot reach CloudFormation for {self.label}: {exc}") from None
        status = stacks[0]["StackStatus"]
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
            raise CallctlError(f"stack {self.stack_name} is {status}")
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _check_local(endpoint_url: str) -> None:
    try:
        requests.get(f"{endpoint_url}/_local_aws/health", timeout=3).raise_for_status()
    except requests.RequestException:
        raise CallctlError(f"the local stack is not reachable at {endpoint_url}: start it with "
                           "`python -m callctl up` (or `make up`) in another terminal") from None


def resolve_target(local: bool = False, aws: bool = False, stack: str | None = None,
                   region: str | None = None) -> Target:
    stack_name = stack or os.environ.get("CALLCTL_STACK")
    endpoint = os.environ.get("CALLCTL_ENDPOINT_URL")
    state = read_state()
    state_running = bool(state) and _pid_alive(state.get("pid"))
    if aws:
        return _aws_target(stack_name, region)
    if endpoint:
        _check_local(endpoint)
        name = stack_name or (state or {}).get("stack_name") or DEFAULT_STACK
        return Target("local", region or LOCAL_REGION, name, endpoint, state or {})
    if state_running:
        _check_local(state["endpoint_url"])
        return Target("local", state.get("region", LOCAL_REGION), stack_name or state["stack_name"],
                      state["endpoint_url"], state)
    if local:
        stale = f" (the state file {state_file()} is left from process {state.get('pid')}, which has exited)" \
            if state else ""
        raise CallctlError(f"no local stack is running{stale}: start one with `python -m callctl up` (or `make up`), "
                           "or set CALLCTL_ENDPOINT_URL")
    return _aws_target(stack_name, region)


def _aws_target(stack_name: str | None, region: str | None) -> Target:
    # boto3 itself reads AWS_DEFAULT_REGION and the profile, not AWS_REGION (which most other AWS tools use)
    try:
        region = region or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    except NoRegionError:
        region = None
    if not region:
        raise CallctlError("no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your "
                           "AWS profile) or pass --region")
    return Target("aws", region, stack_name or DEFAULT_STACK)
