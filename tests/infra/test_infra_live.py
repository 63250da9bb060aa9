"""The live path in the stack (infra/live.py): the encrypted live-insights topic, the edge-client policy that grants
publish + upload and nothing else, and the queue -> store_live_insight subscriber with its DLQ."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match
from infra_template import synthesize


@pytest.fixture(scope="module")
def fifo_synth(tmp_path_factory):
    return synthesize({"live_topic_fifo": True, "nag": True}, tmp_path_factory.mktemp("cdk-live-fifo"))


def output_ref(synth, name: str) -> str:
    return synth.raw["Outputs"][name]["Value"]["Ref"]


def live_topic(synth) -> tuple[str, dict]:
    topic_id = output_ref(synth, "LiveInsightsTopicArn")
    return topic_id, synth.raw["Resources"][topic_id]["Properties"]


def test_the_live_topic_is_encrypted_with_its_own_rotating_key_and_ssl_only(synth):
    topic_id, props = live_topic(synth)
    key_id = props["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = synth.raw["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    results_key = synth.raw["Resources"][output_ref(synth, "ResultsTopicArn")]["Properties"]["KmsMasterKeyId"]
    assert results_key != props["KmsMasterKeyId"]  # one key per topic: an edge client gets no use of the other
    assert "FifoTopic" not in props
    synth.template.has_resource_properties("AWS::SNS::TopicPolicy", {
        "Topics": [{"Ref": topic_id}],
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])},
    })


def test_the_edge_client_policy_grants_publish_and_upload_and_nothing_else(synth):
    policy_id = output_ref(synth, "EdgeClientPolicyArn")
    policy = synth.raw["Resources"][policy_id]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    topic_id, props = live_topic(synth)
    key_id = props["KmsMasterKeyId"]["Fn::GetAtt"][0]
    bucket_id = output_ref(synth, "RecordingsBucketName")
    by_action = {tuple(sorted(s["Action"])) if isinstance(s["Action"], list) else (s["Action"],): s
                 for s in statements}
    assert set(by_action) == {("sns:Publish",), ("kms:Decrypt", "kms:GenerateDataKey"), ("s3:PutObject",)}
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
    assert by_action[("sns:Publish",)]["Resource"] == {"Ref": topic_id}
    assert by_action[("kms:Decrypt", "kms:GenerateDataKey")]["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert by_action[("s3:PutObject",)]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/recordings/*"]]}
    # attached to nobody by the stack: the operator attaches it to the edge clients' identity
    for field in ("Roles", "Users", "Groups"):
        assert field not in policy["Properties"]


def test_the_subscriber_is_a_queue_with_a_dlq_feeding_store_live_insight_in_partial_batches(synth):
    topic_id, _ = live_topic(synth)
    dlq_id = output_ref(synth, "LiveInsightsDlqUrl")
    [(sub_id, subscription)] = [(k, r) for k, r in synth.resources("AWS::SNS::Subscription").items()
                                if r["Properties"]["TopicArn"] == {"Ref": topic_id}]
    props = subscription["Properties"]
    assert props["Protocol"] == "sqs" and props["RawMessageDelivery"] is True
    queue_id = props["Endpoint"]["Fn::GetAtt"][0]
    queue = synth.raw["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 5}
    assert queue["SqsManagedSseEnabled"] is True
    fn_id, fn = synth.functions()["store_live_insight"]
    [mapping] = [m["Properties"] for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["FunctionName"] == {"Ref": fn_id}]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] <= 10
    assert queue["VisibilityTimeout"] >= 6 * fn["Timeout"]


def test_store_live_insight_only_writes_the_calls_table(synth):
    actions = {a for s in synth.function_statements("store_live_insight") for a in
               (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not any(a.startswith(("sns:", "s3:", "kms:Encrypt", "secretsmanager:", "states:")) for a in actions), actions
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions


def test_the_fifo_variant(fifo_synth):
    _, props = live_topic(fifo_synth)
    assert props["FifoTopic"] is True and props["ContentBasedDeduplication"] is False
    queues = [r["Properties"] for r in fifo_synth.resources("AWS::SQS::Queue").values()
              if r["Properties"].get("FifoQueue")]
    assert len(queues) == 2  # the subscriber queue and its DLQ


def test_outputs_for_the_edge_clients(synth):
    for name in ("LiveInsightsTopicArn", "EdgeClientPolicyArn", "LiveInsightsDlqUrl"):
        assert synth.raw["Outputs"][name]["Description"]
