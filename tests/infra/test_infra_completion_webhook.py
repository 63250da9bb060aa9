"""completion_webhook=true: the callback wait, the webhook function URL, the shared secret, the SendTaskSuccess
grant and the exact env of the two extra Lambdas; and with the default (false) none of it exists."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match
from call_analytics import settings  # functions/ is on sys.path (conftest)
from infra_template import Synth, all_states, as_list, synthesize
from test_infra_workflow import LAMBDA_TIMEOUT_RETRY, THROTTLED_RETRY, TRANSIENT_RETRY

from infra.app import build_app

WEBHOOK_CONTEXT = {"completion_webhook": True}
CALLBACK_HANDLERS = ("await_transcript", "transcript_webhook")
BASE_HANDLERS = ("start_call", "submit_transcription", "check_transcript", "fetch_transcript", "run_analysis",
                 "finalize_call", "record_failure", "dead_letters", "store_live_insight")

TIMEOUT_CATCH = {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.callback", "Next": "CheckTranscript"}
CATCH_ALL = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}


@pytest.fixture(scope="module")
def webhook_synth(tmp_path_factory) -> Synth:
    """The completion_webhook variant, synthesized once for this module with the cdk-nag plugin on (the default)."""
    return synthesize(WEBHOOK_CONTEXT, tmp_path_factory.mktemp("cdk-webhook"))


@pytest.fixture(scope="module")
def states(webhook_synth):
    return all_states(webhook_synth.state_machine()[2])


# ---- readers ------------------------------------------------------------------------------------
def env_of(synth: Synth, handler: str) -> dict:
    return synth.functions()[handler][1]["Environment"]["Variables"]


def role_id(synth: Synth, handler: str) -> str:
    return synth.functions()[handler][1]["Role"]["Fn::GetAtt"][0]


def grants(synth: Synth):
    """(role logical ids, statement) for every Allow statement of every IAM policy, inline role policies included."""
    for res in synth.resources("AWS::IAM::Policy").values():
        roles = {r["Ref"] for r in res["Properties"].get("Roles", [])}
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Allow":
                yield roles, st
    for logical_id, res in synth.resources("AWS::IAM::Role").items():
        for policy in res["Properties"].get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                if st["Effect"] == "Allow":
                    yield {logical_id}, st


def actions(statements) -> set[str]:
    return {a for st in statements for a in as_list(st["Action"])}


def webhook_secret_id(synth: Synth) -> str:
    (secret_id,) = [k for k, r in synth.resources("AWS::SecretsManager::Secret").items()
                    if "X-Webhook-Secret" in r["Properties"].get("Description", "")]
    return secret_id


def limits_table_id(synth: Synth) -> str:
    return synth.raw["Outputs"]["LimitsTableName"]["Value"]["Ref"]


def model_fields(*models) -> set[str]:
    return {field.alias or name for model in models for name, field in model.model_fields.items()}


# ---- the callback wait --------------------------------------------------------------------------
def test_wait_for_transcript_is_a_task_token_callback_with_the_poll_wait_as_timeout(webhook_synth, states):
    wait = states["WaitForTranscript"]
    await_id = webhook_synth.functions()["await_transcript"][0]
    assert wait["Type"] == "Task"
    # lambda:invoke.waitForTaskToken (not the plain ARN of the other tasks): the execution waits for SendTaskSuccess
    assert wait["Resource"] == "arn:ref:AWS::Partition:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"] == {
        "FunctionName": f"arn:{await_id}",
        "Payload": {"task_token.$": "$$.Task.Token", "call_id.$": "$.call_id", "transcript_id.$": "$.transcript_id"},
    }
    # the timeout is the poll wait CheckTranscript computed (no fixed timeout, no heartbeat)
    assert wait["TimeoutSecondsPath"] == "$.poll.wait_seconds"
    assert "TimeoutSeconds" not in wait and "HeartbeatSeconds" not in wait and "HeartbeatSecondsPath" not in wait
    assert wait["ResultPath"] == "$.callback" and wait["Next"] == "CheckTranscript"
    assert wait["Retry"] == [THROTTLED_RETRY, TRANSIENT_RETRY, LAMBDA_TIMEOUT_RETRY]
    # no webhook in time -> States.Timeout -> poll anyway; it must come before the catch-all (first match wins)
    assert wait["Catch"] == [TIMEOUT_CATCH, CATCH_ALL]


def test_polling_loop_still_runs_through_the_callback_wait(states):
    assert states["StartPolling"]["Next"] == "WaitForTranscript"
    assert states["TranscriptReady?"]["Default"] == "WaitForTranscript"
    assert states["HasTranscript?"]["Choices"][1]["Next"] == "WaitForTranscript"  # a re-drive with a transcript
    check = states["CheckTranscript"]
    assert check["ResultPath"] == "$.poll" and check["Next"] == "TranscriptReady?"
    assert check["Catch"] == [CATCH_ALL]
    # the wait is the only new task; every other state is the default machine's
    tasks = {name for name, s in states.items() if s["Type"] == "Task"}
    assert tasks == {"SubmitTranscription", "WaitForTranscript", "CheckTranscript", "FetchTranscript", "RunAnalysis",
                     "FinalizeCall", "RecordFailure"}


def test_state_machine_invokes_await_transcript_but_not_the_webhook(webhook_synth):
    _, props, _ = webhook_synth.state_machine()
    invoke = [s for s in webhook_synth.role_statements(props["RoleArn"]) if "lambda:InvokeFunction" in s["Action"]]
    targets = {r["Fn::GetAtt"][0] if "Fn::GetAtt" in r else r["Fn::Join"][1][0]["Fn::GetAtt"][0]
               for s in invoke for r in s["Resource"]}
    fns = webhook_synth.functions()
    assert targets == {fns[h][0] for h in ("submit_transcription", "await_transcript", "check_transcript",
                                           "fetch_transcript", "run_analysis", "finalize_call", "record_failure")}


# ---- the function URL ---------------------------------------------------------------------------
def test_function_url_is_public_and_targets_the_webhook_function(webhook_synth):
    webhook_id = webhook_synth.functions()["transcript_webhook"][0]
    template = webhook_synth.template
    template.resource_count_is("AWS::Lambda::Url", 1)
    template.has_resource_properties("AWS::Lambda::Url", {
        "AuthType": "NONE",  # AssemblyAI cannot sign requests: the handler checks X-Webhook-Secret
        "TargetFunctionArn": {"Fn::GetAtt": [webhook_id, "Arn"]},
    })
    # the public invoke permissions exist for the webhook function only
    public = [p["Properties"] for p in webhook_synth.resources("AWS::Lambda::Permission").values()
              if p["Properties"]["Principal"] == "*"]
    assert public and all(p["FunctionName"] == {"Fn::GetAtt": [webhook_id, "Arn"]} for p in public)
    assert {p["Action"] for p in public} <= {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    url_permission = next(p for p in public if p["Action"] == "lambda:InvokeFunctionUrl")
    assert url_permission["FunctionUrlAuthType"] == "NONE"
    assert all(p.get("InvokedViaFunctionUrl") is True for p in public if p["Action"] == "lambda:InvokeFunction")


def test_webhook_url_output(webhook_synth):
    (url_id,) = webhook_synth.resources("AWS::Lambda::Url")
    webhook_synth.template.has_output("TranscriptWebhookUrl", {
        "Value": {"Fn::GetAtt": [url_id, "FunctionUrl"]},
        "Description": Match.string_like_regexp("secret"),
    })
    # the default outputs are all still there
    assert {"StateMachineArn", "LimitsTableName", "ApiKeySecretArn"} <= set(webhook_synth.raw["Outputs"])


# ---- IAM ----------------------------------------------------------------------------------------
def test_send_task_success_only_on_the_state_machine_and_only_for_the_callback_roles(webhook_synth):
    machine_id = webhook_synth.state_machine()[0]
    callback_roles = {role_id(webhook_synth, h) for h in CALLBACK_HANDLERS}
    task_response = [(roles, st) for roles, st in grants(webhook_synth)
                     if any(a.startswith("states:SendTask") for a in as_list(st["Action"]))]
    assert task_response
    granted_to = set()
    for roles, st in task_response:
        assert as_list(st["Action"]) == ["states:SendTaskSuccess"]  # no SendTaskFailure / SendTaskHeartbeat
        assert as_list(st["Resource"]) == [{"Ref": machine_id}]  # this state machine, not "*"
        assert "Condition" not in st
        granted_to |= roles
    assert granted_to == callback_roles
    # and the callback roles have no other Step Functions right
    for handler in CALLBACK_HANDLERS:
        assert {a for a in actions(webhook_synth.function_statements(handler)) if a.startswith("states:")} == {
            "states:SendTaskSuccess"}, handler


def test_webhook_secret_is_readable_only_by_the_webhook_and_submit_transcription(webhook_synth):
    secret_id = webhook_secret_id(webhook_synth)
    (api_key_id,) = set(webhook_synth.resources("AWS::SecretsManager::Secret")) - {secret_id}
    readers = set()
    for roles, st in grants(webhook_synth):
        if secret_id in json.dumps(st["Resource"]):
            assert set(as_list(st["Action"])) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
            # the secret by its ARN (submit_transcription's statement may also name the API key: merged policies)
            assert {"Ref": secret_id} in as_list(st["Resource"])
            assert all(r in ({"Ref": secret_id}, {"Ref": api_key_id}) for r in as_list(st["Resource"])), st
            readers |= roles
    assert readers == {role_id(webhook_synth, h) for h in ("transcript_webhook", "submit_transcription")}
    assert not webhook_synth.resources("AWS::SecretsManager::ResourcePolicy")
    # the webhook reads no other secret (not the AssemblyAI key); await_transcript reads none at all
    webhook_secrets = [r for st in webhook_synth.function_statements("transcript_webhook")
                       if any(a.startswith("secretsmanager:") for a in as_list(st["Action"]))
                       for r in as_list(st["Resource"])]
    assert webhook_secrets == [{"Ref": secret_id}]
    assert not any(a.startswith("secretsmanager:") for a in actions(webhook_synth.function_statements(
        "await_transcript")))


@pytest.mark.parametrize("handler", CALLBACK_HANDLERS)
def test_callback_functions_only_update_callback_items_of_the_limits_table(webhook_synth, handler):
    table = limits_table_id(webhook_synth)
    statements = webhook_synth.function_statements(handler)
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(dynamo) == 1, dynamo  # no calls table, no idempotency table
    (statement,) = dynamo
    assert as_list(statement["Action"]) == ["dynamodb:UpdateItem"]  # no Get/Put/Delete/Query/Scan
    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [table, "Arn"]}]  # the table, not its indexes
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CALLBACK#*"]}}
    # nothing else of the stack: no bucket, topic, queues, KMS, Lambda
    assert not any(a.startswith(("s3:", "sns:", "sqs:", "kms:", "lambda:")) for a in actions(statements))


def test_callback_keys_are_granted_to_nobody_else(webhook_synth):
    callback_roles = {role_id(webhook_synth, h) for h in CALLBACK_HANDLERS}
    for roles, st in grants(webhook_synth):
        if "CALLBACK#" in json.dumps(st.get("Condition", {})):
            assert roles <= callback_roles, roles
    # submit_transcription keeps its semaphore-only limits access
    table = limits_table_id(webhook_synth)
    (on_limits,) = [s for s in webhook_synth.function_statements("submit_transcription")
                    if table in json.dumps(s["Resource"])]
    assert on_limits["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SEM#*"]}}


def test_every_function_logs_only_to_its_own_log_group(webhook_synth):
    for handler in CALLBACK_HANDLERS:
        _, props = webhook_synth.functions()[handler]
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        logs = [r for st in webhook_synth.function_statements(handler)
                if any(a.startswith("logs:") for a in as_list(st["Action"])) for r in as_list(st["Resource"])]
        assert logs == [{"Fn::GetAtt": [log_group, "Arn"]}], handler


def test_no_wildcard_resource_on_data_actions(webhook_synth):
    for roles, st in grants(webhook_synth):
        if "*" in as_list(st["Resource"]):
            assert all(a.startswith(("xray:", "logs:")) for a in as_list(st["Action"])), (roles, st)


# ---- functions and env --------------------------------------------------------------------------
def test_exactly_the_two_callback_functions_are_added(webhook_synth, synth):
    assert set(webhook_synth.functions()) == set(BASE_HANDLERS) | set(CALLBACK_HANDLERS)
    assert set(synth.functions()) == set(BASE_HANDLERS)
    for handler in CALLBACK_HANDLERS:
        _, props = webhook_synth.functions()[handler]
        assert props["Handler"] == f"call_analytics.handlers.{handler}.handler"
        assert props["Runtime"] == "python3.12" and props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert "ManagedPolicyArns" not in webhook_synth.raw["Resources"][role_id(webhook_synth, handler)][
            "Properties"]
    # AssemblyAI expects the webhook's answer within 10 s
    assert webhook_synth.functions()["transcript_webhook"][1]["Timeout"] <= 10


@pytest.mark.parametrize("handler", CALLBACK_HANDLERS)
def test_callback_env_is_exactly_its_settings_model(webhook_synth, handler):
    model = settings.COMPLETION_WEBHOOK_HANDLER_SETTINGS[handler]
    env = env_of(webhook_synth, handler)
    assert set(env) == model_fields(model)
    model.model_validate({k: (v if isinstance(v, str) else f"resolved-{k.lower()}") for k, v in env.items()})


def test_submit_transcription_env_adds_exactly_the_webhook_settings(webhook_synth):
    env = env_of(webhook_synth, "submit_transcription")
    assert set(env) == model_fields(settings.SubmitTranscriptionSettings, settings.CompletionWebhookSettings)
    assert set(env) - model_fields(settings.SubmitTranscriptionSettings) == {"WEBHOOK_URL", "WEBHOOK_SECRET_ARN"}
    literal = {k: (v if isinstance(v, str) else f"resolved-{k.lower()}") for k, v in env.items()}
    settings.SubmitTranscriptionSettings.model_validate(literal)
    assert settings.CompletionWebhookSettings.model_validate(literal).enabled


@pytest.mark.parametrize("handler", sorted(set(BASE_HANDLERS) - {"submit_transcription"}))
def test_other_functions_env_is_unchanged(webhook_synth, handler):
    assert set(env_of(webhook_synth, handler)) == model_fields(settings.HANDLER_SETTINGS[handler])


def test_env_values_point_at_the_url_the_secret_and_the_limits_table(webhook_synth):
    (url_id,) = webhook_synth.resources("AWS::Lambda::Url")
    secret_ref = {"Ref": webhook_secret_id(webhook_synth)}
    limits_ref = {"Ref": limits_table_id(webhook_synth)}
    submit = env_of(webhook_synth, "submit_transcription")
    assert submit["WEBHOOK_URL"] == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    assert submit["WEBHOOK_SECRET_ARN"] == secret_ref
    webhook, waiter = env_of(webhook_synth, "transcript_webhook"), env_of(webhook_synth, "await_transcript")
    assert webhook["WEBHOOK_SECRET_ARN"] == secret_ref
    for env in (webhook, waiter):
        assert env["LIMITS_TABLE"] == limits_ref
        assert env["TRANSCRIPTION_TIMEOUT_SECONDS"] == str(webhook_synth.config.transcription_timeout_seconds)


# ---- the secret ---------------------------------------------------------------------------------
def test_secret_value_never_in_the_template(webhook_synth):
    secrets = webhook_synth.resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 2  # the AssemblyAI key and the webhook secret
    webhook = secrets[webhook_secret_id(webhook_synth)]["Properties"]
    assert webhook["GenerateSecretString"]["PasswordLength"] >= 32  # CloudFormation generates the value
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
    text = json.dumps(webhook_synth.raw)
    assert "{{resolve:secretsmanager" not in text  # no dynamic reference pulls the value into a property
    # only ARNs in the env, never a value
    for handler in webhook_synth.functions():
        for key, value in env_of(webhook_synth, handler).items():
            if "SECRET" in key:
                assert key.endswith("_SECRET_ARN") and isinstance(value, dict) and "Ref" in value, (handler, key)


# ---- cdk-nag ------------------------------------------------------------------------------------
def test_webhook_variant_passes_cdk_nag(webhook_synth):
    # the synth ran with the AwsSolutions plugin (it raises on unacknowledged errors)
    assert webhook_synth.config.nag is True and webhook_synth.config.completion_webhook is True
    report = json.loads((webhook_synth.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
    assert not [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]


def test_webhook_acknowledgements_are_narrow_and_explained(webhook_synth):
    acknowledged: dict[str, list[tuple[str, str]]] = {}
    for construct in webhook_synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for rule, reason in entry.data.items():
                    acknowledged.setdefault(rule, []).append((construct.node.path, reason))
    for rule, places in acknowledged.items():
        if rule.split("[")[0].endswith("AwsSolutions-IAM5"):
            assert "[" in rule, rule
        for path, reason in places:
            assert path != webhook_synth.stack.node.path, rule
            assert len(reason) >= 40, (rule, reason)
    # the new resources' findings are acknowledged on those resources
    paths = {path for places in acknowledged.values() for path, _ in places}
    assert any(p.endswith("/WebhookSecret") for p in paths)
    assert any(p.endswith("/AwaitTranscript") for p in paths) and any(p.endswith("/TranscriptWebhook") for p in paths)


def test_nag_is_active_for_the_webhook_variant(tmp_path):
    # GIVEN the webhook variant plus one violating queue WHEN synthesizing THEN only the queue is reported,
    # i.e. the plugin runs on this variant and finds nothing in the webhook resources
    app, stack = build_app(WEBHOOK_CONTEXT, outdir=str(tmp_path))
    sqs.Queue(stack, "NagCanary", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["violations"]
    for violation in nag["violations"]:
        for construct in violation["violatingConstructs"]:
            assert construct["constructPath"].startswith(f"{stack.node.path}/NagCanary"), violation["ruleName"]


# ---- default context: none of it ----------------------------------------------------------------
def test_default_context_has_no_completion_webhook(synth):
    assert synth.config.completion_webhook is False
    wait = all_states(synth.state_machine()[2])["WaitForTranscript"]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.poll.wait_seconds"
    assert "Resource" not in wait and "Catch" not in wait
    assert not synth.resources("AWS::Lambda::Url")
    assert "TranscriptWebhookUrl" not in synth.raw["Outputs"]
    assert not set(CALLBACK_HANDLERS) & set(synth.functions())
    (secret,) = synth.resources("AWS::SecretsManager::Secret").values()
    assert "X-Webhook-Secret" not in secret["Properties"]["Description"]
    assert not {"WEBHOOK_URL", "WEBHOOK_SECRET_ARN"} & set(env_of(synth, "submit_transcription"))
    for _, st in grants(synth):
        assert not any(a.startswith("states:SendTask") for a in as_list(st["Action"]))
        assert "CALLBACK#" not in json.dumps(st.get("Condition", {}))
    assert not [p for p in synth.resources("AWS::Lambda::Permission").values() if p["Properties"]["Principal"] == "*"]


def test_webhook_reserved_concurrency_caps_only_the_public_function(tmp_path):
    synth = synthesize({"completion_webhook": True, "webhook_reserved_concurrency": 3, "nag": False}, tmp_path)
    functions = synth.functions()
    _, webhook = functions["transcript_webhook"]
    assert webhook["ReservedConcurrentExecutions"] == 3
    others = [name for name, (_, props) in functions.items() if "ReservedConcurrentExecutions" in props]
    assert others == ["transcript_webhook"]
