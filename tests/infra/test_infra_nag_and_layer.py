"""cdk-nag is active and clean; the dependency layer is a placeholder unless bundling is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from infra.layer import PIP_PLATFORM, PLACEHOLDER_DIR, layer_asset_hash, pip_command, prune_runtime_provided
from infra.nag import add_nag_checks
from infra.names import FUNCTIONS_REQUIREMENTS


def test_default_stack_passes_cdk_nag(synth):
    # the session synth ran with the AwsSolutions plugin (nag defaults to on); it raises on errors
    assert synth.config.nag is True
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
    nag = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert not nag or not nag[0]["violations"]


def test_nag_plugin_fails_a_violating_stack(tmp_path):
    # GIVEN a stack with an unencrypted, non-SSL queue and no acknowledgement
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Violating")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_nag_checks(app)
    # WHEN synthesizing THEN validation fails, naming the rules
    with pytest.raises(Exception, match="ValidationFailed") as exc:
        app.synth()
    assert "AwsSolutions-SQS2" in str(exc.value) and "AwsSolutions-SQS4" in str(exc.value)


#: rule families this stack acknowledges (each with its reason, on the construct that causes it)
ACKNOWLEDGED_FAMILIES = {"AwsSolutions-S1", "AwsSolutions-SMG4", "AwsSolutions-SQS3", "AwsSolutions-L1",
                         "AwsSolutions-IAM4", "AwsSolutions-IAM5"}


def test_acknowledgements_are_narrow_and_explained(synth):
    acknowledged = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for rule, reason in entry.data.items():
                    acknowledged.setdefault(rule, []).append((construct.node.path, reason))
    assert acknowledged
    for rule, places in acknowledged.items():
        family = rule.removeprefix("Annotation::").split("[")[0]
        assert family in ACKNOWLEDGED_FAMILIES, rule
        if family == "AwsSolutions-IAM5":
            assert "[" in rule, "IAM5 is acknowledged per finding, never wholesale"
        for path, reason in places:
            assert path != synth.stack.node.path, f"{rule} acknowledged for the whole stack"
            assert len(reason) >= 40, (rule, reason)


def test_placeholder_layer_when_not_bundling(synth):
    assets = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    (layer,) = [a for a in assets["files"].values() if a.get("displayName", "").startswith("DependencyLayer/")]
    assert Path(layer["source"]["path"]) == PLACEHOLDER_DIR
    # and the synth says so loudly
    warnings = [entry.data for c in synth.stack.node.find_all() for entry in c.node.metadata
                if entry.type == "aws:cdk:warning"]
    assert any("bundle=true" in str(w) for w in warnings)


def test_layer_hash_separates_placeholder_from_bundle():
    bundled = layer_asset_hash(FUNCTIONS_REQUIREMENTS, bundled=True)
    placeholder = layer_asset_hash(FUNCTIONS_REQUIREMENTS, bundled=False)
    assert bundled != placeholder and len(bundled) == 64


def test_pip_command_targets_the_lambda_platform(tmp_path):
    cmd = pip_command(FUNCTIONS_REQUIREMENTS, tmp_path / "python")
    joined = " ".join(cmd)
    assert f"--platform {PIP_PLATFORM}" in joined and "--python-version 3.12" in joined
    assert "--only-binary=:all:" in cmd and str(FUNCTIONS_REQUIREMENTS) in cmd


def test_prune_drops_runtime_provided_packages(tmp_path):
    for name in ("botocore", "botocore-1.44.5.dist-info", "boto3", "s3transfer-0.1.dist-info", "bin",
                 "pydantic", "aws_lambda_powertools"):
        (tmp_path / name).mkdir()
    prune_runtime_provided(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aws_lambda_powertools", "pydantic"]
