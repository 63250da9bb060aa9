"""The dependency layer (Powertools, pydantic, requests from functions/requirements.txt), built by pip on the
host: no Docker. Bundling only runs when the stack is in `aws:cdk:bundling-stacks` (app.py: `-c bundle=true`);
otherwise CDK stages the placeholder directory and synth stays offline and fast."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.names import FUNCTIONS_REQUIREMENTS

PLACEHOLDER_DIR = Path(__file__).resolve().parent / "layer_placeholder"
DEFAULT_PYTHON_VERSION = "3.12"
PIP_PLATFORM = "manylinux2014_x86_64"
PIP_TIMEOUT_SECONDS = 900
#: the Lambda runtime ships a matched boto3/botocore pair; a copy in the layer would shadow half of it
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def lambda_runtime(python_version: str) -> lambda_.Runtime:
    """The Lambda runtime of a Python minor version ("3.12" -> python3.12)."""
    return lambda_.Runtime(f"python{python_version}", lambda_.RuntimeFamily.PYTHON)


def pip_command(requirements: Path, target: Path, python_version: str = DEFAULT_PYTHON_VERSION) -> list[str]:
    """Wheels only, for the Lambda platform and Python, whatever the build host runs."""
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", PIP_PLATFORM, "--implementation", "cp", "--python-version", python_version,
        "--only-binary=:all:", "--target", str(target), "-r", str(requirements),
    ]


@jsii.implements(ILocalBundling)
class PipLayerBundler:
    """Local bundler: `pip install` into <output>/python. Raises (never falls back to Docker) on failure."""

    def __init__(self, requirements: Path, python_version: str = DEFAULT_PYTHON_VERSION) -> None:
        self._requirements = requirements
        self._python_version = python_version

    def try_bundle(self, output_dir: str, *_args, **_kwargs) -> bool:
        target = Path(output_dir) / "python"
        cmd = pip_command(self._requirements, target, self._python_version)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"dependency layer: pip timed out after {PIP_TIMEOUT_SECONDS}s") from exc
        if proc.returncode != 0:
            raise RuntimeError(f"dependency layer: pip failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        prune_runtime_provided(target)
        return True


def prune_runtime_provided(target: Path) -> None:
    """Drop packages the runtime provides (pulled in transitively, e.g. aws-xray-sdk -> botocore) and scripts."""
    for entry in target.iterdir():
        name = entry.name.split("-", 1)[0].lower()
        if name in RUNTIME_PROVIDED or entry.name == "bin":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


#: bump when the bundling recipe changes (the asset hash must change with the layer's content)
BUNDLER_REVISION = "2"


def layer_asset_hash(requirements: Path, *, bundled: bool, python_version: str = DEFAULT_PYTHON_VERSION) -> str:
    """Changes with the pinned requirements, the target platform and the recipe. The placeholder gets its own
    hash: otherwise a later bundled deploy would find the placeholder's S3 object and skip the upload."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{PIP_PLATFORM}|{python_version}|{BUNDLER_REVISION}|{'bundled' if bundled else 'placeholder'}"
                  .encode())
    return digest.hexdigest()


class DependencyLayer(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bundle: bool, requirements: Path = FUNCTIONS_REQUIREMENTS,
        python_version: str = DEFAULT_PYTHON_VERSION,
    ) -> None:
        """`bundle` must agree with the app's bundling switch (`aws:cdk:bundling-stacks`, see infra/app.py)."""
        super().__init__(scope, construct_id)
        code = lambda_.Code.from_asset(
            str(PLACEHOLDER_DIR),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=layer_asset_hash(requirements, bundled=bundle, python_version=python_version),
            bundling=BundlingOptions(
                # Never used: the local bundler always bundles or raises. CDK requires an image.
                image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{python_version}"),
                command=["sh", "-c", "echo 'the dependency layer is bundled on the host (infra/layer.py)' >&2; exit 1"],
                local=PipLayerBundler(requirements, python_version),
            ),
        )
        self.layer = lambda_.LayerVersion(
            self, "Layer",
            code=code,
            compatible_runtimes=[lambda_runtime(python_version)],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="aws-lambda-powertools, pydantic, requests (functions/requirements.txt)",
        )
