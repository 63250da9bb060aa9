"""A minimal ``cdk deploy`` of a synthesized cloud assembly into the local AWS (moto CloudFormation).

1. publish the stack's file assets (zipped directories / files) to the bootstrap assets bucket,
2. seed the bootstrap version SSM parameter the template's ``BootstrapVersion`` parameter reads,
3. ``create_stack`` with the template and wait (bounded) for CREATE_COMPLETE,
4. return the stack outputs.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_aws.server import ACCOUNT_ID

BOOTSTRAP_VERSION = "30"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployError(RuntimeError):
    pass


def stack_artifacts(assembly_dir: Path) -> dict[str, dict]:
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    return {name: art for name, art in manifest["artifacts"].items() if art["type"] == "aws:cloudformation:stack"}


def _substitute(text: str, region: str) -> str:
    return (text.replace("${AWS::AccountId}", ACCOUNT_ID).replace("${AWS::Region}", region)
            .replace("${AWS::Partition}", "aws").replace("${AWS::URLSuffix}", "amazonaws.com"))


def _zip_dir(src: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                archive.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


def publish_assets(assembly_dir: Path, stack_name: str, s3: Any, region: str) -> int:
    """Upload every file asset of the stack; returns the number of assets published."""
    artifacts = json.loads((assembly_dir / "manifest.json").read_text())["artifacts"]
    asset_manifests = [art["properties"]["file"] for name, art in artifacts.items()
                       if art["type"] == "cdk:asset-manifest" and name in (f"{stack_name}.assets",)]
    count = 0
    for manifest_file in asset_manifests:
        manifest = json.loads((assembly_dir / manifest_file).read_text())
        if manifest.get("dockerImages"):
            raise DeployError(f"{stack_name} has Docker image assets: there is no Docker engine for the local stack")
        for asset in manifest.get("files", {}).values():
            src = assembly_dir / asset["source"]["path"]
            body = _zip_dir(src) if asset["source"].get("packaging") == "zip" else src.read_bytes()
            for destination in asset["destinations"].values():
                bucket = _substitute(destination["bucketName"], region)
                try:
                    s3.create_bucket(Bucket=bucket)
                except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                    pass
                s3.put_object(Bucket=bucket, Key=_substitute(destination["objectKey"], region), Body=body)
            count += 1
    return count


def seed_bootstrap(template: dict, ssm: Any) -> None:
    parameter = template.get("Parameters", {}).get("BootstrapVersion", {}).get("Default")
    if parameter:
        ssm.put_parameter(Name=parameter, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)


def _failure_reason(cfn: Any, stack_name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except Exception:
        return ""
    failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
              if e.get("ResourceStatus", "").endswith("FAILED")]
    return "; ".join(failed[:5])


def deploy_stack(assembly_dir: Path, client: Callable[[str], Any], stack_name: str | None = None,
                 timeout: float = 180, region: str = "us-east-1") -> dict[str, str]:
    """Deploy one stack of the assembly (the only one if ``stack_name`` is None); return its outputs."""
    assembly_dir = Path(assembly_dir)
    stacks = stack_artifacts(assembly_dir)
    if stack_name is None:
        if len(stacks) != 1:
            raise DeployError(f"the assembly has {len(stacks)} stacks ({', '.join(stacks)}); name one")
        stack_name = next(iter(stacks))
    if stack_name not in stacks:
        raise DeployError(f"no stack {stack_name!r} in the assembly (has: {', '.join(stacks)})")
    template_text = (assembly_dir / stacks[stack_name]["properties"]["templateFile"]).read_text()
    template = json.loads(template_text)

    publish_assets(assembly_dir, stack_name, client("s3"), region)
    seed_bootstrap(template, client("ssm"))
    cfn = client("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=template_text, Capabilities=CAPABILITIES)
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"{stack_name} still {status} after {timeout}s: {_failure_reason(cfn, stack_name)}")
        time.sleep(0.1)
    if status != "CREATE_COMPLETE":
        raise DeployError(f"{stack_name}: {status} {stack.get('StackStatusReason') or ''} "
                          f"{_failure_reason(cfn, stack_name)}".strip())
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
