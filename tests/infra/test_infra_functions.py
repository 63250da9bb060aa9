"""The eight Lambdas: handlers, runtime, observability, limits and exactly the contract's env vars."""

from __future__ import annotations

import pytest
from call_analytics import settings  # functions/ is on sys.path (conftest); tests may import Lambda code

#: docs/architecture.md, "Handlers" table, copied here on purpose (not imported from infra/)
CONTRACT_ENV = {
    "start_call": {"CALLS_TABLE", "IDEMPOTENCY_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                   "DEFAULT_PROFILE", "STATE_MACHINE_ARN", "RESULTS_TOPIC_ARN"},
    "submit_transcription": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                             "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL", "AUDIO_DELIVERY",
                             "PRESIGN_TTL_SECONDS", "POLL_INITIAL_SECONDS", "POLL_EXPECTED_RTF",
                             "TRANSCRIPTION_CONCURRENCY", "SLOT_WAIT_MAX_SECONDS", "SLOT_WAIT_BUDGET_SECONDS",
                             "TRANSCRIPTION_TIMEOUT_SECONDS", "OUTAGE_BUDGET_SECONDS"},
    "check_transcript": {"CALLS_TABLE", "LIMITS_TABLE", "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL",
                         "POLL_INITIAL_SECONDS", "POLL_EXPECTED_RTF", "POLL_MAX_SECONDS", "POLL_BACKOFF",
                         "TRANSCRIPTION_TIMEOUT_SECONDS", "OUTAGE_BUDGET_SECONDS"},
    "fetch_transcript": {"CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                         "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_API_BASE_URL", "OUTAGE_BUDGET_SECONDS"},
    "run_analysis": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                     "ASSEMBLYAI_SECRET_ARN", "ASSEMBLYAI_LLM_BASE_URL", "LLM_REQUESTS_PER_MINUTE",
                     "ANALYSIS_WAIT_BUDGET_SECONDS", "OUTAGE_BUDGET_SECONDS"},
    "finalize_call": {"CALLS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "RESULTS_TOPIC_ARN"},
    "record_failure": {"CALLS_TABLE", "LIMITS_TABLE", "RESULTS_TOPIC_ARN"},
    "dead_letters": {"CALLS_TABLE", "LIMITS_TABLE", "RECORDINGS_BUCKET", "RESULTS_PREFIX", "PROFILES_PREFIX",
                     "RESULTS_TOPIC_ARN", "STATE_MACHINE_ARN"},
    "store_live_insight": {"CALLS_TABLE"},
}
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def env_of(synth, handler: str) -> dict:
    return synth.functions()[handler][1]["Environment"]["Variables"]


def test_exactly_the_contract_handlers_exist(synth):
    # GIVEN the default deployment WHEN listing project functions THEN they are the contract's nine
    assert set(synth.functions()) == set(CONTRACT_ENV)


@pytest.mark.parametrize("handler", sorted(CONTRACT_ENV))
def test_env_vars_are_exactly_the_contract_table(synth, handler):
    assert set(env_of(synth, handler)) == CONTRACT_ENV[handler] | POWERTOOLS_ENV


@pytest.mark.parametrize("handler", sorted(CONTRACT_ENV))
def test_env_vars_match_the_settings_models(synth, handler):
    # The Lambda code validates its env with these pydantic models: infra and code must not drift apart.
    model = settings.HANDLER_SETTINGS[handler]
    fields = {field.alias or name for name, field in model.model_fields.items()}
    assert fields == set(env_of(synth, handler))


@pytest.mark.parametrize("handler", sorted(CONTRACT_ENV))
def test_env_validates_against_the_settings_model(synth, handler):
    # Literal values (tokens resolved to placeholders) must pass the model's own validation.
    env = {k: (v if isinstance(v, str) else f"resolved-{k.lower()}") for k, v in env_of(synth, handler).items()}
    settings.HANDLER_SETTINGS[handler].model_validate(env)


def test_env_values_follow_the_config(synth, alt_synth):
    start, submit = env_of(synth, "start_call"), env_of(synth, "submit_transcription")
    assert submit["ASSEMBLYAI_API_BASE_URL"] == "https://api.assemblyai.com"
    assert start["RESULTS_PREFIX"] == "results/" and start["PROFILES_PREFIX"] == "profiles/"
    assert submit["AUDIO_DELIVERY"] == "presigned" and start["DEFAULT_PROFILE"] == "default"
    assert env_of(synth, "run_analysis")["ASSEMBLYAI_LLM_BASE_URL"] == "https://llm-gateway.assemblyai.com/v1"
    check = env_of(synth, "check_transcript")
    assert (check["POLL_INITIAL_SECONDS"], check["POLL_MAX_SECONDS"], check["POLL_BACKOFF"],
            check["TRANSCRIPTION_TIMEOUT_SECONDS"], check["POLL_EXPECTED_RTF"]) == ("5", "900", "1.3", "14400", "0.3")
    for handler in ("submit_transcription", "check_transcript", "fetch_transcript", "run_analysis"):
        assert env_of(synth, handler)["OUTAGE_BUDGET_SECONDS"] == "900", handler
    assert start["STATE_MACHINE_ARN"] == {"Ref": synth.state_machine()[0]}
    assert env_of(synth, "dead_letters")["STATE_MACHINE_ARN"] == {"Ref": synth.state_machine()[0]}
    # the limits: one table for the semaphore and the LLM windows, the contract's defaults
    limits_ref = {"Ref": synth.raw["Outputs"]["LimitsTableName"]["Value"]["Ref"]}
    for handler in ("submit_transcription", "check_transcript", "run_analysis", "record_failure", "dead_letters"):
        assert env_of(synth, handler)["LIMITS_TABLE"] == limits_ref, handler
    assert (submit["TRANSCRIPTION_CONCURRENCY"], submit["SLOT_WAIT_MAX_SECONDS"],
            submit["SLOT_WAIT_BUDGET_SECONDS"]) == ("5", "60", "86400")
    run = env_of(synth, "run_analysis")
    assert (run["LLM_REQUESTS_PER_MINUTE"], run["ANALYSIS_WAIT_BUDGET_SECONDS"]) == ("30", "3600")

    # the alternative deployment: explicit API override wins, LLM URL follows the eu region
    alt_start, alt_submit = env_of(alt_synth, "start_call"), env_of(alt_synth, "submit_transcription")
    assert alt_submit["ASSEMBLYAI_API_BASE_URL"] == "http://127.0.0.1:8765"
    assert env_of(alt_synth, "run_analysis")["ASSEMBLYAI_LLM_BASE_URL"] == "https://llm-gateway.eu.assemblyai.com/v1"
    assert (alt_submit["AUDIO_DELIVERY"], alt_start["DEFAULT_PROFILE"], alt_submit["PRESIGN_TTL_SECONDS"],
            alt_start["POWERTOOLS_LOG_LEVEL"]) == ("upload", "sales", "900", "DEBUG")
    assert env_of(alt_synth, "check_transcript")["POLL_BACKOFF"] == "2.0"
    assert (alt_submit["TRANSCRIPTION_CONCURRENCY"], env_of(alt_synth, "run_analysis")["LLM_REQUESTS_PER_MINUTE"]) == (
        "200", '{"*":20,"claude-sonnet-4-5-20250929":28}')


def test_per_model_llm_limits_render_as_json_the_settings_model_reads(synth, alt_synth):
    # GIVEN llm_requests_per_minute as an int (default) and as a per-model map (alt) WHEN run_analysis loads its env
    def loaded(s):
        env = {k: (v if isinstance(v, str) else f"resolved-{k.lower()}") for k, v in env_of(s, "run_analysis").items()}
        return settings.RunAnalysisSettings.model_validate(env)

    default, alt = loaded(synth), loaded(alt_synth)
    # THEN each model gets the configured limit: the map's own, else its "*"
    assert default.LLM_REQUESTS_PER_MINUTE == 30 and default.llm_requests_per_minute("gpt-4.1") == 30
    assert alt.LLM_REQUESTS_PER_MINUTE == {"claude-sonnet-4-5-20250929": 28, "*": 20}
    assert (alt.llm_requests_per_minute("claude-sonnet-4-5-20250929"), alt.llm_requests_per_minute("gpt-4.1")) == (
        28, 20)


def test_no_secret_material_in_env_or_template(synth):
    for handler in CONTRACT_ENV:
        for key in env_of(synth, handler):
            assert "KEY" not in key or key == "ASSEMBLYAI_SECRET_ARN"
    (secret,) = synth.resources("AWS::SecretsManager::Secret").values()
    assert "SecretString" not in secret["Properties"]  # CloudFormation generates a placeholder value
    assert "GenerateSecretString" in secret["Properties"]


@pytest.mark.parametrize("handler", sorted(CONTRACT_ENV))
def test_runtime_tracing_logging_layer(synth, handler):
    _, props = synth.functions()[handler]
    assert props["Runtime"] == "python3.12"
    assert props["Handler"] == f"call_analytics.handlers.{handler}.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert synth.raw["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30
    (layer_id,) = synth.resources("AWS::Lambda::LayerVersion")
    assert props["Layers"] == [{"Ref": layer_id}]
    assert 3 <= props["Timeout"] <= 900 and 128 <= props["MemorySize"] <= 10240
    # no AWS-managed policies: each role gets only what its grants add
    role = synth.raw["Resources"][props["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert "ManagedPolicyArns" not in role


def test_alt_config_limits(alt_synth):
    _, start = alt_synth.functions()["start_call"]
    assert start["ReservedConcurrentExecutions"] == 5
    _, submit = alt_synth.functions()["submit_transcription"]
    assert submit["Timeout"] > 60 and submit["MemorySize"] >= 1024  # upload mode streams the audio
    log_group_id = start["LoggingConfig"]["LogGroup"]["Ref"]
    assert alt_synth.raw["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 7
    assert start["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"


def test_start_call_async_failures_go_to_its_dlq(synth):
    start_id, props = synth.functions()["start_call"]
    assert "ReservedConcurrentExecutions" not in props  # default: no reservation (fresh accounts have none)
    (config,) = synth.resources("AWS::Lambda::EventInvokeConfig").values()
    p = config["Properties"]
    assert p["FunctionName"] == {"Ref": start_id}
    assert p["MaximumRetryAttempts"] == 2
    assert 60 <= p["MaximumEventAgeInSeconds"] <= 21600
    dlq_id = p["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synth.raw["Resources"][dlq_id]["Type"] == "AWS::SQS::Queue"
    assert synth.raw["Outputs"]["StartCallDlqUrl"]["Value"] == {"Ref": dlq_id}
    # and start_call may send there
    sends = [s for s in synth.function_statements("start_call") if "sqs:SendMessage" in s["Action"]]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [dlq_id, "Arn"]}]


def queue_ids(synth) -> dict[str, str]:
    return {name: synth.raw["Outputs"][output]["Value"]["Ref"] for name, output in
            (("start_call", "StartCallDlqUrl"), ("workflow", "WorkflowDlqUrl"), ("final", "DeadLettersDlqUrl"))}


def test_dead_letters_consumes_both_dlqs_in_small_partial_batches(synth):
    fn_id, props = synth.functions()["dead_letters"]
    queues = queue_ids(synth)
    mappings = {m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
                for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["FunctionName"] == {"Ref": fn_id}}
    assert set(mappings) == {queues["start_call"], queues["workflow"]}  # not its own final queue
    for mapping in mappings.values():
        assert mapping["FunctionName"] == {"Ref": fn_id}
        assert 1 <= mapping["BatchSize"] <= 10
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # Powertools partial batch response
    # a message stays hidden while the consumer works on it, and after a few failed receives goes to the final DLQ
    for name in ("start_call", "workflow"):
        queue = synth.raw["Resources"][queues[name]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * props["Timeout"]
        assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [queues["final"], "Arn"]},
                                          "maxReceiveCount": 5}
    assert "RedrivePolicy" not in synth.raw["Resources"][queues["final"]]["Properties"]
    assert synth.raw["Outputs"]["DeadLettersFunctionName"]["Value"] == {"Ref": fn_id}
    # invoked only through the mappings: no async invoke config, no S3 or EventBridge permission
    assert all(c["Properties"]["FunctionName"] != {"Ref": fn_id}
               for c in synth.resources("AWS::Lambda::EventInvokeConfig").values())
    assert all(p["Properties"]["FunctionName"] not in ({"Ref": fn_id}, {"Fn::GetAtt": [fn_id, "Arn"]})
               for p in synth.resources("AWS::Lambda::Permission").values())


def test_code_asset_is_the_functions_folder(synth):
    import json

    assets = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    code = [a for a in assets["files"].values() if a.get("displayName", "").startswith("Functions/")]
    assert len(code) == 1  # one asset shared by all eight functions
    staged = synth.outdir / code[0]["source"]["path"]
    assert (staged / "call_analytics").is_dir()
    assert not (staged / "requirements.txt").exists()
