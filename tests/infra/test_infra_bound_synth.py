"""`cdk deploy` always binds the stack to an account and region (CDK_DEFAULT_ACCOUNT/REGION): synthesis with cdk-nag
on must hold there too, in every partition cdk.json targets, for the contexts that change the policies."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Environment
from infra_template import synthesize

from infra.config import read_cdk_json_context

#: (account, region) per partition; one pair in each partition of `@aws-cdk/core:target-partitions`
BOUND_ENVIRONMENTS = {
    "aws": ("111122223333", "eu-west-1"),
    "aws-cn": ("444455556666", "cn-north-1"),
}

CONTEXTS = {
    "default": {},
    "webhook-eu": {"completion_webhook": True, "assemblyai_region": "eu"},
}


def test_every_target_partition_is_covered():
    assert set(read_cdk_json_context()["@aws-cdk/core:target-partitions"]) == set(BOUND_ENVIRONMENTS)


@pytest.mark.parametrize("partition", sorted(BOUND_ENVIRONMENTS))
@pytest.mark.parametrize("context_name", sorted(CONTEXTS))
def test_bound_synth_passes_cdk_nag(tmp_path, partition, context_name):
    account, region = BOUND_ENVIRONMENTS[partition]
    # WHEN synthesizing bound to a real-looking account, as the CDK CLI does (nag on: synth raises on any error)
    synth = synthesize({**CONTEXTS[context_name], "nag": True}, tmp_path, env=Environment(account=account,
                                                                                        region=region))
    # THEN the stack really is bound, and the AwsSolutions report has no unacknowledged finding
    assert (synth.stack.account, synth.stack.region) == (account, region)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"]), report
    # AND the acknowledgement that names an ARN of the account spells it with the bound values
    acknowledged = [rule for construct in synth.stack.node.find_all() for entry in construct.node.metadata
                    if entry.type == "aws:cdk:acknowledged-rules" for rule in entry.data]
    execution_acks = [rule for rule in acknowledged if ":execution:" in rule]
    assert execution_acks and all(f"arn:{partition}:states:{region}:{account}:execution:" in rule
                                  for rule in execution_acks), execution_acks
