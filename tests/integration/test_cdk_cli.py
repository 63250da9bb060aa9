"""The deploy a user runs, into the local AWS: the pinned CDK CLI synthesizes the app (bound to the account, cdk-nag
on, `-c bundle=true` so pip builds the dependency layer), `cdk deploy` creates the stack, calls run through the
deployed functions importing that layer, `cdk diff` finds nothing, a changed-context deploy updates the stack in
place while a call is in flight, and `cdk destroy` removes the stack but keeps what is retained."""

from __future__ import annotations

import json

import pytest
from test_pipeline import (  # noqa: F401 (samples is a fixture)
    CALL,
    call_record,
    samples,
    upload,
    wait_terminal,
)

from local_aws.assemblyai import AssemblyAiServer
from local_aws.persistence import stack_resources
from local_aws.stack import LocalStack, LocalStackOptions

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 300
#: functions the batch path invokes for one call
PIPELINE_FUNCTIONS = ("StartCall", "SubmitTranscription", "CheckTranscript", "FetchTranscript", "RunAnalysis",
                      "FinalizeCall")


@pytest.fixture(scope="module")
def cli_stack(aai_server, tmp_path_factory):
    server = AssemblyAiServer(aai_server.base_url, aai_server.api_key)
    local = LocalStack(LocalStackOptions(
        work_dir=tmp_path_factory.mktemp("cdk-cli-stack"), lambda_mode="subprocess", wait_scale=0.05,
        assemblyai=server, real_api_key=None, write_state=False, cli_synth=True, context={"bundle": True}))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def function_names(stack) -> dict[str, str]:
    return {logical: physical for logical, (kind, physical) in stack_resources(stack.client, stack.stack_name).items()
            if kind == "AWS::Lambda::Function"}


def test_cli_deploy_has_outputs_and_a_bound_nag_clean_assembly(cli_stack):
    assert {"RecordingsBucketName", "CallsTableName", "ResultsTopicArn", "StateMachineArn",
            "ApiKeySecretArn"} <= set(cli_stack.outputs)
    # the validation plugin (cdk-nag) ran during the CLI's synthesis and reported no failure
    counters = json.loads((cli_stack.cli_outdir / "performance-counters.json").read_text())["counters"]
    assert counters.get("validateTemplates(cnt)", 0) >= 1
    report = json.loads((cli_stack.cli_outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"]), report
    assert ":123456789012:" in cli_stack.outputs["StateMachineArn"]


def test_resource_policies_are_deployed(cli_stack):
    # moto's CloudFormation skips these types; local_aws.cfn_cli_patches.resource_policies models them
    policy = cli_stack.client("s3").get_bucket_policy(Bucket=cli_stack.outputs["RecordingsBucketName"])["Policy"]
    assert "aws:SecureTransport" in policy
    topic = cli_stack.client("sns").get_topic_attributes(TopicArn=cli_stack.outputs["ResultsTopicArn"])
    assert "aws:SecureTransport" in topic["Attributes"]["Policy"]
    queue = cli_stack.client("sqs").get_queue_attributes(QueueUrl=cli_stack.outputs["WorkflowDlqUrl"],
                                                         AttributeNames=["Policy"])["Attributes"]
    assert "events.amazonaws.com" in queue["Policy"] or "aws:SecureTransport" in queue["Policy"]


def test_a_call_runs_through_the_deployed_functions_and_their_bundled_layer(cli_stack, samples):  # noqa: F811
    call_id = upload(cli_stack, samples / CALL / "mono.wav", f"recordings/{CALL}.wav")
    meta = wait_terminal(cli_stack, call_id, timeout=CALL_TIMEOUT)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    sources = cli_stack.aws.stats()["lambda"]["dependency_source"]
    used = {name: source for name, source in sources.items()
            if any(logical in name for logical in PIPELINE_FUNCTIONS)}
    assert len(used) == len(PIPELINE_FUNCTIONS), sources
    assert set(used.values()) == {"layer"}, used  # pydantic & co. imported from the deployed layer, not the venv


def test_cdk_diff_after_deploy_shows_no_differences(cli_stack):
    result = cli_stack.cdk.diff(cli_stack.stack_name, context=cli_stack.context, outdir=cli_stack.cli_outdir)
    assert result.returncode == 0, result.output[-3000:]


def test_changed_context_updates_in_place_while_a_call_is_in_flight(cli_stack, samples):  # noqa: F811
    before = function_names(cli_stack)
    call_id = upload(cli_stack, samples / CALL / "mono.wav", f"recordings/{CALL}-during-update.wav")
    cli_stack.redeploy({"transcription_concurrency": 7})
    status = cli_stack.client("cloudformation").describe_stacks(StackName=cli_stack.stack_name)["Stacks"][0]
    assert status["StackStatus"] == "UPDATE_COMPLETE"
    assert function_names(cli_stack) == before  # updated in place, nothing replaced
    lambda_ = cli_stack.client("lambda")
    submit = next(name for logical, name in before.items() if logical.startswith("FunctionsSubmitTranscription"))
    env = lambda_.get_function_configuration(FunctionName=submit)["Environment"]["Variables"]
    assert env["TRANSCRIPTION_CONCURRENCY"] == "7"
    meta = wait_terminal(cli_stack, call_id, timeout=CALL_TIMEOUT)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    assert call_record(cli_stack, call_id, "ANALYSIS#phases")["result"]["phases"]


def test_cdk_destroy_removes_the_stack_and_keeps_the_retained_data(cli_stack):
    bucket, table = cli_stack.outputs["RecordingsBucketName"], cli_stack.outputs["CallsTableName"]
    functions = function_names(cli_stack)
    cli_stack.cdk.destroy(cli_stack.stack_name, context=cli_stack.context, outdir=cli_stack.cli_outdir)
    cfn = cli_stack.client("cloudformation")
    remaining = [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert cli_stack.stack_name not in remaining
    names = {f["FunctionName"] for f in cli_stack.client("lambda").list_functions()["Functions"]}
    assert not names & set(functions.values())  # compute is gone
    # removal_policy=retain (the default): the recordings/results bucket and the calls table outlive the stack
    cli_stack.client("s3").head_bucket(Bucket=bucket)
    assert cli_stack.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table
