"""Storage, notifications, the upload trigger and the stack outputs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

SUFFIXES = (".wav", ".mp3", ".m4a", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".webm", ".aac", ".amr", ".wma",
            ".aiff", ".aif", ".mov", ".mkv", ".3gp", ".gsm", ".au", ".caf")  # infra/names.py AUDIO_SUFFIXES


def recordings_bucket_id(synth) -> str:
    return synth.raw["Outputs"]["RecordingsBucketName"]["Value"]["Ref"]


def ssl_only_denies(synth, policy_type: str, target_key: str) -> list[str]:
    denied = []
    for res in synth.resources(policy_type).values():
        for st in res["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                denied.append(json.dumps(res["Properties"][target_key]))
    return denied


# ---- storage -------------------------------------------------------------------------------------
def test_recordings_bucket_is_private_encrypted_versioned_logged(synth):
    props = synth.raw["Resources"][recordings_bucket_id(synth)]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == \
        {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    log_bucket = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert synth.raw["Resources"][log_bucket]["Type"] == "AWS::S3::Bucket"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["results-tiering"]["Prefix"] == "results/"
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


def test_both_buckets_deny_non_ssl(synth):
    denied = ssl_only_denies(synth, "AWS::S3::BucketPolicy", "Bucket")
    for bucket_id in synth.resources("AWS::S3::Bucket"):
        assert json.dumps({"Ref": bucket_id}) in denied


def test_calls_table_layout(synth):
    synth.template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "updated_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    })


def test_idempotency_table_layout(synth):
    synth.template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
    })


def test_limits_table_layout(synth):
    # semaphore + LLM request windows; old windows expire through TTL
    table_id = synth.raw["Outputs"]["LimitsTableName"]["Value"]["Ref"]
    props = synth.raw["Resources"][table_id]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST" and "GlobalSecondaryIndexes" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_data_is_retained_by_default_and_destroyable_on_request(synth, alt_synth):
    bucket = synth.raw["Resources"][recordings_bucket_id(synth)]
    assert bucket["DeletionPolicy"] == "Retain"
    alt_bucket = alt_synth.raw["Resources"][recordings_bucket_id(alt_synth)]
    assert alt_bucket["DeletionPolicy"] == "Delete"
    rules = {r["Id"]: r for r in alt_bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["results-tiering"]["ExpirationInDays"] == 90
    # no Node.js custom resources (auto-delete, log retention, bucket deployment): they cannot run locally
    types = {r["Type"] for r in alt_synth.raw["Resources"].values()}
    assert not {"Custom::S3AutoDeleteObjects", "Custom::LogRetention", "Custom::CDKBucketDeployment"} & types


# ---- notifications ------------------------------------------------------------------------------
def test_topic_is_kms_encrypted_with_rotation_and_ssl_only(synth):
    topic_id = synth.raw["Outputs"]["ResultsTopicArn"]["Value"]["Ref"]
    key_ref = synth.raw["Resources"][topic_id]["Properties"]["KmsMasterKeyId"]
    key = synth.raw["Resources"][key_ref["Fn::GetAtt"][0]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    assert json.dumps([{"Ref": topic_id}]) in ssl_only_denies(synth, "AWS::SNS::TopicPolicy", "Topics")


def test_dlqs_are_encrypted_and_ssl_only(synth):
    denied = ssl_only_denies(synth, "AWS::SQS::QueuePolicy", "Queues")
    for output in ("StartCallDlqUrl", "WorkflowDlqUrl", "DeadLettersDlqUrl"):
        queue_id = synth.raw["Outputs"][output]["Value"]["Ref"]
        props = synth.raw["Resources"][queue_id]["Properties"]
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert json.dumps([{"Ref": queue_id}]) in denied


# ---- upload trigger -----------------------------------------------------------------------------
def notification_filters(synth) -> list[dict[str, str]]:
    start_id = synth.functions()["start_call"][0]
    (res,) = synth.resources("Custom::S3BucketNotifications").values()
    assert res["Properties"]["BucketName"] == {"Ref": recordings_bucket_id(synth)}
    out = []
    for cfg in res["Properties"]["NotificationConfiguration"]["LambdaFunctionConfigurations"]:
        assert cfg["LambdaFunctionArn"] == {"Fn::GetAtt": [start_id, "Arn"]}
        assert cfg["Events"] == ["s3:ObjectCreated:*"]
        out.append({r["Name"]: r["Value"] for r in cfg["Filter"]["Key"]["FilterRules"]})
    return out


def test_every_object_under_the_prefix_reaches_start_call(synth):
    # one notification, no suffix filter (S3's are case-sensitive: `.Mp3`, `.Wav` would start nothing, silently);
    # start_call refuses other types with a recorded, announced reason
    assert notification_filters(synth) == [{"prefix": "recordings/"}]
    synth.template.has_resource_properties("AWS::Lambda::Permission", {
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
        "FunctionName": {"Fn::GetAtt": [synth.functions()["start_call"][0], "Arn"]},
        "SourceArn": {"Fn::GetAtt": [recordings_bucket_id(synth), "Arn"]},
        "SourceAccount": {"Ref": "AWS::AccountId"},
    })


def test_trigger_follows_the_prefix_config_and_ignores_the_retired_suffix_keys(alt_synth):
    assert notification_filters(alt_synth) == [{"prefix": "calls/in/"}]  # ALT_CONTEXT still sets recording_suffixes


# ---- outputs ------------------------------------------------------------------------------------
def test_outputs_have_stable_logical_ids(synth):
    outputs = synth.raw["Outputs"]
    ids = {"RecordingsBucketName", "CallsTableName", "IdempotencyTableName", "ResultsTopicArn", "StateMachineArn",
           "ApiKeySecretArn", "StartCallFunctionName", "StartCallDlqUrl", "WorkflowDlqUrl", "LimitsTableName",
           "DeadLettersFunctionName", "DeadLettersDlqUrl"}
    assert ids <= set(outputs)
    types = {k: synth.raw["Resources"][v["Value"]["Ref"]]["Type"] for k, v in outputs.items() if k in ids}
    assert types == {
        "RecordingsBucketName": "AWS::S3::Bucket", "CallsTableName": "AWS::DynamoDB::Table",
        "IdempotencyTableName": "AWS::DynamoDB::Table", "ResultsTopicArn": "AWS::SNS::Topic",
        "StateMachineArn": "AWS::StepFunctions::StateMachine", "ApiKeySecretArn": "AWS::SecretsManager::Secret",
        "StartCallFunctionName": "AWS::Lambda::Function", "StartCallDlqUrl": "AWS::SQS::Queue",
        "WorkflowDlqUrl": "AWS::SQS::Queue", "LimitsTableName": "AWS::DynamoDB::Table",
        "DeadLettersFunctionName": "AWS::Lambda::Function", "DeadLettersDlqUrl": "AWS::SQS::Queue",
    }
    assert outputs["CallsTableName"]["Value"] != outputs["IdempotencyTableName"]["Value"]
    synth.template.has_output("StateMachineArn", {"Value": Match.any_value()})


def test_outputs_name_the_upload_prefix_and_the_accepted_file_types(synth, alt_synth):
    # callctl upload reads these: the prefix the notification filters on, the types start_call accepts (any case)
    for s, prefix in ((synth, "recordings/"), (alt_synth, "calls/in/")):
        outputs = s.raw["Outputs"]
        assert outputs["RecordingsPrefix"]["Value"] == prefix
        assert sorted(outputs["RecordingSuffixes"]["Value"].split(",")) == sorted(SUFFIXES)
        assert notification_filters(s) == [{"prefix": prefix}]
        assert prefix in outputs["RecordingsBucketName"]["Description"]
