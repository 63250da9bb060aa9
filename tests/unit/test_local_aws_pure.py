"""Pure parts of the local AWS's CDK-CLI patches and of the restart snapshot (no moto, no sockets)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from local_aws.cfn_cli_patches import bucket_and_key  # noqa: E402
from local_aws.persistence import _names_of, _replace_all  # noqa: E402


@pytest.mark.parametrize(("url", "expected"), [
    # what `cdk deploy` sends to a local endpoint: path style on an IP and port (moto took "127" as the bucket)
    ("http://127.0.0.1:4566/cdk-hnb659fds-assets-123456789012-us-east-1/abc.json",
     ("cdk-hnb659fds-assets-123456789012-us-east-1", "abc.json")),
    ("http://localhost:4566/bucket/dir/key.json", ("bucket", "dir/key.json")),
    ("https://s3.eu-west-1.amazonaws.com/bucket/key.json", ("bucket", "key.json")),
    ("https://bucket.s3.eu-west-1.amazonaws.com/dir/key.json", ("bucket", "dir/key.json")),
    ("https://bucket.s3.cn-north-1.amazonaws.com.cn/key.json", ("bucket", "key.json")),
])
def test_template_urls_in_every_form_aws_accepts(url, expected):
    assert bucket_and_key(url) == expected


def test_names_of_an_arn_and_a_queue_url_include_the_resource_name():
    assert _names_of("arn:aws:sns:us-east-1:123456789012:Stack-Topic-ABC123") == [
        "arn:aws:sns:us-east-1:123456789012:Stack-Topic-ABC123", "Stack-Topic-ABC123"]
    assert _names_of("https://sqs.us-east-1.amazonaws.com/123456789012/Stack-Dlq-XYZ789")[-1] == "Stack-Dlq-XYZ789"
    assert _names_of("stack-bucket-abc123") == ["stack-bucket-abc123"]


def test_replace_all_rewrites_nested_low_level_items():
    item = {"pk": {"S": "CALL#c-1"}, "bucket": {"S": "old-bucket"},
            "history": {"L": [{"M": {"arn": {"S": "arn:aws:states:r:1:execution:OldMachine:c-1"}}}]}}
    mapping = {"old-bucket": "new-bucket", "OldMachine": "NewMachine"}
    assert _replace_all(item, mapping) == {
        "pk": {"S": "CALL#c-1"}, "bucket": {"S": "new-bucket"},
        "history": {"L": [{"M": {"arn": {"S": "arn:aws:states:r:1:execution:NewMachine:c-1"}}}]}}


def test_only_the_ssl_only_deny_is_left_out_of_local_bucket_policy_evaluation():
    from local_aws.cfn_cli_patches import _is_transport_only_deny

    ssl_only = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert _is_transport_only_deny(ssl_only)
    assert not _is_transport_only_deny({**ssl_only, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    assert not _is_transport_only_deny({**ssl_only, "Effect": "Allow"})
    assert not _is_transport_only_deny({"Effect": "Deny", "Principal": "*", "Action": "s3:*"})  # unconditional


def test_the_runtime_provided_packages_are_found_as_top_level_paths():
    from local_aws.lambda_runner import RUNTIME_PROVIDED_DISTRIBUTIONS, _distribution_roots

    names = {Path(root).name for root in _distribution_roots(RUNTIME_PROVIDED_DISTRIBUTIONS)}
    assert {"boto3", "botocore", "s3transfer", "dateutil"} <= names
    assert not any(name.endswith((".dist-info", "__pycache__")) for name in names)


def test_in_flight_statuses_are_the_call_statuses_before_a_terminal_one():
    from call_analytics.logic.dead_letters import IN_WORKFLOW
    from call_analytics.models import CallStatus

    from local_aws.persistence import IN_FLIGHT_STATUSES

    assert set(IN_FLIGHT_STATUSES) == {CallStatus.RECEIVED, *IN_WORKFLOW}
