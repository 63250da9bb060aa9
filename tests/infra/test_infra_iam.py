"""Least privilege: no wildcard resource on data, and each function gets what its job needs and nothing else."""

from __future__ import annotations

import json

import pytest
from infra_template import as_list

#: the only actions allowed on Resource "*": they have no resource-level permissions
WILDCARD_RESOURCE_ALLOWLIST = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}
DATA_SERVICES = ("s3:", "dynamodb:", "sns:", "sqs:", "secretsmanager:", "states:", "kms:", "lambda:")


def all_allow_statements(synth):
    for logical_id, res in synth.raw["Resources"].items():
        if res["Type"] == "AWS::IAM::Policy":
            for st in res["Properties"]["PolicyDocument"]["Statement"]:
                if st["Effect"] == "Allow":
                    yield logical_id, st


def actions(statements) -> set[str]:
    return {a for st in statements for a in as_list(st["Action"])}


def resources_of(statements, action_prefix: str) -> list:
    return [r for st in statements if any(a.startswith(action_prefix) for a in as_list(st["Action"]))
            for r in as_list(st["Resource"])]


def test_wildcard_resources_only_for_allowlisted_actions(synth):
    seen = set()
    for logical_id, st in all_allow_statements(synth):
        if "*" in as_list(st["Resource"]):
            extra = set(as_list(st["Action"])) - WILDCARD_RESOURCE_ALLOWLIST
            assert not extra, f"{logical_id}: {extra} on Resource '*'"
            seen |= set(as_list(st["Action"]))
    assert not any(a.startswith(DATA_SERVICES) for a in seen)


def test_no_wildcard_actions_on_services(synth):
    for logical_id, st in all_allow_statements(synth):
        for action in as_list(st["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{logical_id}: {action}"


def test_start_call_permissions(synth):
    st = synth.function_statements("start_call")
    acts = actions(st)
    assert "states:StartExecution" in acts
    assert resources_of(st, "states:") == [{"Ref": synth.state_machine()[0]}]
    assert "s3:DeleteObject*" not in acts
    read = json.dumps(resources_of([s for s in st if "s3:GetObject*" in as_list(s["Action"])], "s3:"))
    assert "/recordings/*" in read and "/profiles/*" in read and "/results/" not in read
    # it writes only the profile snapshot under results/
    puts = resources_of([s for s in st if "s3:PutObject" in as_list(s["Action"])], "s3:")
    assert puts and all(json.dumps(r).endswith('"/results/*"]]}') for r in puts), puts
    # it no longer talks to AssemblyAI: no API key
    assert "secretsmanager:GetSecretValue" not in acts and "sns:Publish" in acts


def test_idempotency_table_only_for_start_call(synth):
    idem = next(k for k in synth.resources("AWS::DynamoDB::Table") if "Idempotency" in k)
    for handler in synth.functions():
        uses = idem in json.dumps(resources_of(synth.function_statements(handler), "dynamodb:"))
        assert uses == (handler == "start_call"), handler


@pytest.mark.parametrize("handler,s3_put,s3_read,secret,publish", [
    ("start_call", True, True, False, True),
    ("submit_transcription", False, True, True, False),
    ("check_transcript", False, False, True, False),
    ("fetch_transcript", True, True, True, False),
    ("run_analysis", True, True, True, False),
    ("finalize_call", True, True, False, True),
    ("record_failure", False, False, False, True),
    ("dead_letters", False, False, False, True),
])
def test_each_function_gets_only_its_services(synth, handler, s3_put, s3_read, secret, publish):
    st = synth.function_statements(handler)
    acts = actions(st)
    assert ("s3:PutObject" in acts) == s3_put
    assert ("s3:GetObject*" in acts) == s3_read
    assert ("secretsmanager:GetSecretValue" in acts) == secret
    assert ("sns:Publish" in acts) == publish
    assert ("states:StartExecution" in acts) == (handler == "start_call")
    assert not any(a.startswith("s3:Delete") for a in acts)
    if s3_put:  # writes only under results/
        puts = resources_of([s for s in st if "s3:PutObject" in as_list(s["Action"])], "s3:")
        assert all(json.dumps(r).endswith('"/results/*"]]}') for r in puts), puts
    if handler in ("record_failure", "dead_letters"):
        assert not any(a.startswith("s3:") for a in acts)
    # every function reaches the calls table and only CloudWatch/X-Ray otherwise
    assert "dynamodb:UpdateItem" in acts


def limits_table_id(synth) -> str:
    return synth.raw["Outputs"]["LimitsTableName"]["Value"]["Ref"]


@pytest.mark.parametrize("handler,actions_,keys", [
    ("submit_transcription", {"dynamodb:GetItem", "dynamodb:UpdateItem"}, ["SEM#*"]),  # acquire (+ reap)
    ("check_transcript", {"dynamodb:UpdateItem"}, ["SEM#*"]),  # release
    ("record_failure", {"dynamodb:UpdateItem"}, ["SEM#*"]),  # release
    ("dead_letters", {"dynamodb:UpdateItem"}, ["SEM#*"]),  # release (executions that ended outside the Catch)
    ("run_analysis", {"dynamodb:UpdateItem"}, ["RATE#*"]),  # LLM request windows
])
def test_limits_table_access_is_item_level_and_key_scoped(synth, handler, actions_, keys):
    table = limits_table_id(synth)
    on_limits = [s for s in synth.function_statements(handler) if table in json.dumps(s["Resource"])]
    assert len(on_limits) == 1, on_limits
    (statement,) = on_limits
    assert set(as_list(statement["Action"])) == actions_  # no Scan/Query/Put/Delete
    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [table, "Arn"]}]  # the table, not its indexes
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}


def test_limits_table_only_for_the_functions_that_count(synth):
    table = limits_table_id(synth)
    users = {h for h in synth.functions() if table in json.dumps(synth.function_statements(h))}
    assert users == {"submit_transcription", "check_transcript", "record_failure", "run_analysis", "dead_letters"}


def test_secret_read_is_scoped_to_the_api_key(synth):
    (secret_id,) = synth.resources("AWS::SecretsManager::Secret")
    for handler in synth.functions():
        for r in resources_of(synth.function_statements(handler), "secretsmanager:"):
            assert r == {"Ref": secret_id}


def test_logs_only_to_own_log_group(synth):
    for handler, (_, props) in synth.functions().items():
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        for r in resources_of(synth.function_statements(handler), "logs:"):
            assert r == {"Fn::GetAtt": [log_group, "Arn"]}, handler


def test_dead_letters_reads_its_two_queues_and_only_describes_executions(synth):
    st = synth.function_statements("dead_letters")
    queues = {synth.raw["Outputs"][o]["Value"]["Ref"] for o in ("StartCallDlqUrl", "WorkflowDlqUrl")}
    consumed = {r["Fn::GetAtt"][0] for r in resources_of(st, "sqs:")}
    assert consumed == queues  # not the final DeadLettersDlq, no other queue
    assert {a for a in actions(st) if a.startswith("sqs:")} <= {
        "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage",
        "sqs:GetQueueAttributes"}
    # Step Functions: DescribeExecution on this machine's executions only (did start_call start the call?)
    assert {a for a in actions(st) if a.startswith("states:")} == {"states:DescribeExecution"}
    [execution_arns] = resources_of(st, "states:")
    assert ":execution:" in json.dumps(execution_arns)
    assert json.dumps({"Ref": synth.state_machine()[0]}) in json.dumps(execution_arns)
    # the idempotency table, the API key and the bucket are not its business
    assert not any(a.startswith(("s3:", "secretsmanager:", "lambda:")) for a in actions(st))
