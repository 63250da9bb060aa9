"""completion_webhook=true on the local stack: the real template (function URL, waitForTaskToken task, webhook
secret) deployed into the local AWS; the local AssemblyAI server sends its real webhook to the function URL the
local AWS serves. The first poll wait is 600 s (not scaled: it is the task's TimeoutSecondsPath), so a call that
completes within the test's timeout can only have been woken by the webhook."""

from __future__ import annotations

import json

import pytest
import requests
from test_pipeline import CALL, call_record, running_stack, samples, upload, wait_terminal  # noqa: F401

pytestmark = pytest.mark.slow

LONG_WAIT = 600  # poll_initial_seconds: the polling backstop would need this long (real seconds)


@pytest.fixture(scope="module")
def webhook_stack(aai_server, tmp_path_factory):
    # its own work dir: the shared synth cache of the other modules holds the default-context template
    yield from running_stack(aai_server, tmp_path_factory.mktemp("local-stack-webhook"), "inprocess",
                             {"completion_webhook": True, "poll_initial_seconds": LONG_WAIT,
                              "poll_max_seconds": LONG_WAIT})


def webhook_secret(stack) -> str:
    secrets = stack.client("secretsmanager")
    arn = next(s["ARN"] for s in secrets.list_secrets()["SecretList"] if "WebhookSecret" in s["Name"])
    return secrets.get_secret_value(SecretId=arn)["SecretString"]


def test_webhook_wakes_the_execution_instead_of_the_poll_wait(webhook_stack, samples):  # noqa: F811
    stack = webhook_stack
    before = stack.assemblyai.stats()["events"]
    call_id = upload(stack, samples / CALL / "mono.wav", f"recordings/{CALL}-webhook.wav")
    meta = wait_terminal(stack, call_id, timeout=LONG_WAIT / 2)  # far less than the backstop's first wait
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    stats = meta["workflow_stats"]
    assert stats["callbacks"] == 1 and stats["polls"] == 1, stats  # one confirming poll, triggered by the webhook
    after = stack.assemblyai.stats()["events"]
    assert after.get("webhook_delivered", 0) > before.get("webhook_delivered", 0)
    assert after.get("webhook_rejected", 0) == before.get("webhook_rejected", 0)  # the secret header matched


def test_function_url_rejects_requests_without_the_secret_and_ignores_repeats(webhook_stack):
    url = webhook_stack.outputs["TranscriptWebhookUrl"]
    assert url.startswith(webhook_stack.endpoint_url)  # served by the local AWS (moto's URL is not reachable)
    body = {"transcript_id": "not-a-known-transcript", "status": "completed"}
    assert requests.post(url, json=body, timeout=30).status_code == 401
    assert requests.post(url, json=body, headers={"X-Webhook-Secret": "wrong"}, timeout=30).status_code == 401
    good = {"X-Webhook-Secret": webhook_secret(webhook_stack)}
    for _ in range(2):  # unknown transcript, and the same webhook again: harmless
        response = requests.post(url, json=body, headers=good, timeout=30)
        assert response.status_code == 200 and response.json()["outcome"] == "recorded"
    assert requests.post(url, data="not json", headers=good, timeout=30).status_code == 400


def test_template_deployed_with_a_callback_wait(webhook_stack):
    sfn = webhook_stack.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(
        stateMachineArn=webhook_stack.outputs["StateMachineArn"])["definition"])
    wait = definition["States"]["WaitForTranscript"]
    assert wait["Type"] == "Task" and wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
