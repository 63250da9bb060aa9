"""completion_webhook (optional): the transcript_webhook handler (function URL event, shared-secret header), the
await_transcript callback task, the token items in the limits table (moto), submit_transcription's webhook fields,
and the callback count in the poll state / workflow_stats. Step Functions' SendTaskSuccess is a recording double."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from call_analytics import wiring
from call_analytics.adapters.callbacks import CallbackRegistry, callback_pk
from call_analytics.logic.accounting import workflow_stats
from call_analytics.logic.completion_webhook import WEBHOOK_AUTH_HEADER, is_authorized
from call_analytics.models import CallState
from unit_fakes import FakeAssemblyAI

SECRET = "s3cr3t-webhook-value-0123456789abcdef"
TRANSCRIPT_ID = "tr-1"
CALL_ID = "c-0123456789abcdef0123"


class FakeStepFunctions:
    """Records SendTaskSuccess; tokens in `gone` answer like tasks that no longer wait."""

    def __init__(self):
        self.successes: list[tuple[str, dict]] = []
        self.gone: dict[str, str] = {}

    def send_task_success(self, taskToken: str, output: str) -> dict:
        if taskToken in self.gone:
            code = self.gone[taskToken]
            raise ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")
        self.successes.append((taskToken, json.loads(output)))
        self.gone[taskToken] = "TaskDoesNotExist"  # a task completes once
        return {}


@pytest.fixture
def sfn_double():
    return FakeStepFunctions()


@pytest.fixture
def webhook_env(aws, monkeypatch, sfn_double):
    import boto3

    secret_arn = boto3.client("secretsmanager").create_secret(Name="webhook-secret", SecretString=SECRET)["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setattr(wiring, "callback_registry",
                        lambda table: CallbackRegistry(table, aws.ddb, sfn_double))
    return secret_arn


def url_event(body, headers: dict | None = None, *, method: str = "POST", base64_body: bool = False) -> dict:
    """A function URL (payload 2.0) event as Lambda delivers it: header names lower-cased."""
    text = body if isinstance(body, str) else json.dumps(body)
    if base64_body:
        text = base64.b64encode(text.encode()).decode()
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {k.lower(): v for k, v in (headers or {}).items()} | {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": "/", "sourceIp": "44.238.19.20"},
                           "requestId": "r-1", "domainName": "abc.lambda-url.us-east-1.on.aws"},
        "body": text, "isBase64Encoded": base64_body,
    }


def webhook(event, context) -> tuple[int, dict]:
    from call_analytics.handlers.transcript_webhook import handler

    response = handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def await_task(token: str, context, transcript_id: str = TRANSCRIPT_ID) -> dict:
    from call_analytics.handlers.await_transcript import handler

    return handler({"task_token": token, "call_id": CALL_ID, "transcript_id": transcript_id}, context)


def item(aws, transcript_id: str = TRANSCRIPT_ID) -> dict | None:
    return aws.ddb.get_item(TableName=aws.limits_table, ConsistentRead=True,
                            Key={"pk": {"S": callback_pk(transcript_id)}, "sk": {"S": "TOKEN"}}).get("Item")


NOTIFICATION = {"transcript_id": TRANSCRIPT_ID, "status": "completed"}
GOOD = {WEBHOOK_AUTH_HEADER: SECRET}


def test_webhook_with_the_secret_wakes_the_waiting_task(aws, webhook_env, sfn_double, lambda_context):
    assert await_task("token-1", lambda_context)["outcome"] == "registered"
    assert sfn_double.successes == []  # no webhook yet: the task waits
    stored = item(aws)
    assert stored["task_token"]["S"] == "token-1" and stored["call_id"]["S"] == CALL_ID
    assert int(stored["expires_at"]["N"]) > datetime.now(timezone.utc).timestamp() + 3600  # TTL set

    status, body = webhook(url_event(NOTIFICATION, GOOD), lambda_context)
    assert (status, body["outcome"]) == (200, "delivered")
    assert sfn_double.successes == [("token-1", {"source": "webhook", "status": "completed"})]
    assert "task_token" not in item(aws) and "pending" not in item(aws)  # claimed


def test_header_name_is_case_insensitive_and_base64_bodies_are_decoded(aws, webhook_env, sfn_double, lambda_context):
    await_task("token-1", lambda_context)
    status, _ = webhook(url_event(NOTIFICATION, {"x-webhook-secret": SECRET}, base64_body=True), lambda_context)
    assert status == 200 and len(sfn_double.successes) == 1


@pytest.mark.parametrize("headers", [{}, {WEBHOOK_AUTH_HEADER: "wrong"}, {WEBHOOK_AUTH_HEADER: ""},
                                     {WEBHOOK_AUTH_HEADER: SECRET[:-1]}, {"Authorization": SECRET}],
                         ids=["missing", "wrong", "empty", "prefix", "other-header"])
def test_webhook_without_the_right_secret_is_401_and_changes_nothing(aws, webhook_env, sfn_double, lambda_context,
                                                                     headers):
    await_task("token-1", lambda_context)
    status, body = webhook(url_event(NOTIFICATION, headers), lambda_context)
    assert (status, body["outcome"]) == (401, "unauthorized")
    assert sfn_double.successes == []
    assert "pending" not in item(aws)  # nothing recorded


def test_constant_time_comparison_rejects_empty_values():
    assert is_authorized(SECRET, SECRET) and not is_authorized(None, SECRET) and not is_authorized("", "")
    assert not is_authorized(SECRET, "")


def test_unknown_transcript_id_is_harmless(aws, webhook_env, sfn_double, lambda_context):
    status, body = webhook(url_event({"transcript_id": "tr-unknown", "status": "completed"}, GOOD), lambda_context)
    assert (status, body["outcome"]) == (200, "recorded")
    assert sfn_double.successes == []
    assert item(aws, "tr-unknown")["pending"]["S"] == "completed"  # expires through TTL


def test_duplicate_webhooks_are_harmless(aws, webhook_env, sfn_double, lambda_context):
    await_task("token-1", lambda_context)
    first = webhook(url_event(NOTIFICATION, GOOD), lambda_context)
    second = webhook(url_event(NOTIFICATION, GOOD), lambda_context)  # AssemblyAI retried
    assert first[1]["outcome"] == "delivered" and second == (200, {"outcome": "recorded"})
    assert len(sfn_double.successes) == 1
    assert int(item(aws)["webhooks"]["N"]) == 2


def test_token_of_a_task_that_timed_out_is_harmless(aws, webhook_env, sfn_double, lambda_context):
    await_task("token-1", lambda_context)
    sfn_double.gone["token-1"] = "TaskTimedOut"  # the wait ran out: CheckTranscript polls anyway
    status, body = webhook(url_event(NOTIFICATION, GOOD), lambda_context)
    assert (status, body["outcome"]) == (200, "stale_token")
    sfn_double.gone["token-2"] = "InvalidToken"
    assert CallbackRegistry(aws.limits_table, aws.ddb, sfn_double).send_success("token-2", {}) is False


def test_webhook_before_the_wait_state_completes_the_task_at_once(aws, webhook_env, sfn_double, lambda_context):
    status, body = webhook(url_event(NOTIFICATION, GOOD), lambda_context)
    assert body["outcome"] == "recorded"
    assert await_task("token-1", lambda_context)["outcome"] == "woken"
    assert sfn_double.successes == [("token-1", {"source": "webhook", "status": "completed"})]
    # the notification was used up: the next wait (if CheckTranscript ever loops) waits for real
    assert await_task("token-2", lambda_context)["outcome"] == "registered"
    assert len(sfn_double.successes) == 1


def test_error_status_wakes_too_and_other_notifications_are_ignored(aws, webhook_env, sfn_double, lambda_context):
    await_task("token-1", lambda_context)
    redacted = {"transcript_id": TRANSCRIPT_ID, "status": "redacted_audio_ready"}
    assert webhook(url_event(redacted, GOOD), lambda_context)[1]["outcome"] == "ignored"
    assert sfn_double.successes == []
    webhook(url_event({"transcript_id": TRANSCRIPT_ID, "status": "error"}, GOOD), lambda_context)
    assert sfn_double.successes == [("token-1", {"source": "webhook", "status": "error"})]


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"status": "completed"}),
                                  json.dumps({"transcript_id": "", "status": "completed"})])
def test_malformed_bodies_are_400_so_assemblyai_does_not_retry(aws, webhook_env, sfn_double, lambda_context, body):
    status, result = webhook(url_event(body, GOOD), lambda_context)
    assert (status, result["outcome"]) == (400, "bad_request")


def test_only_post_is_accepted(aws, webhook_env, lambda_context):
    assert webhook(url_event(NOTIFICATION, GOOD, method="GET"), lambda_context)[0] == 405


def test_secret_never_reaches_the_logs(aws, webhook_env, sfn_double, lambda_context, capsys):
    await_task("token-1", lambda_context)
    webhook(url_event(NOTIFICATION, {WEBHOOK_AUTH_HEADER: "wrong-guess"}), lambda_context)
    webhook(url_event(NOTIFICATION, GOOD), lambda_context)
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "wrong-guess" not in out.out + out.err


# ---- submit_transcription sends the webhook fields ---------------------------------------------------------
@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


def _submit_one(aws, lambda_context) -> None:
    from call_analytics.handlers.submit_transcription import handler

    key = "recordings/a.wav"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b"RIFF" + b"\x00" * 2000)
    handler({"call_id": CALL_ID, "profile": "default", "recording": {"bucket": aws.bucket, "key": key}},
            lambda_context)


def test_submit_passes_webhook_url_and_auth_header_when_enabled(aws, webhook_env, fake_aai, monkeypatch,
                                                                  lambda_context):
    url = "https://abc.lambda-url.us-east-1.on.aws/"
    monkeypatch.setenv("WEBHOOK_URL", url)
    _submit_one(aws, lambda_context)
    [params] = fake_aai.submissions
    assert params["webhook_url"] == url
    assert params["webhook_auth_header_name"] == WEBHOOK_AUTH_HEADER
    assert params["webhook_auth_header_value"] == SECRET  # read from Secrets Manager at run time


def test_submit_sends_no_webhook_by_default(aws, fake_aai, lambda_context):
    _submit_one(aws, lambda_context)
    [params] = fake_aai.submissions
    assert not {"webhook_url", "webhook_auth_header_name", "webhook_auth_header_value"} & set(params)


# ---- CheckTranscript counts the polls the webhook triggered -------------------------------------------------
def test_check_counts_callbacks_and_workflow_stats_report_them(aws, fake_aai, lambda_context):
    from call_analytics.handlers.check_transcript import handler

    fake_aai.transcripts[TRANSCRIPT_ID] = [{"id": TRANSCRIPT_ID, "status": "processing"}]
    started = datetime.now(timezone.utc).isoformat()
    base = {"call_id": CALL_ID, "transcript_id": TRANSCRIPT_ID, "profile": "default",
            "poll": {"status": "queued", "wait_seconds": 5, "polls": 0, "started_at": started}}
    timed_out = handler({**base, "callback": {"Error": "States.Timeout", "Cause": ""}}, lambda_context)
    assert (timed_out["polls"], timed_out["callbacks"]) == (1, 0)
    woken = handler({**base, "poll": timed_out, "callback": {"source": "webhook", "status": "completed"}},
                    lambda_context)
    assert (woken["polls"], woken["callbacks"]) == (2, 1)
    stats = workflow_stats(CallState.model_validate({**base, "poll": woken}))
    assert (stats["polls"], stats["callbacks"]) == (2, 1)
    # without the feature there is no $.callback: nothing is counted as a callback
    plain = handler(base, lambda_context)
    assert plain["callbacks"] == 0
