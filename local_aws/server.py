"""The local AWS: moto in server mode on 127.0.0.1 + the patches + the local Lambda runtime.

``LocalAwsServer`` runs inside one process (``python -m local_aws serve`` runs it as a child, see
``local_aws.process``), because the patches and the in-process Lambda mode change process-wide
state. Besides the AWS APIs it serves a small admin API under ``/_local_aws/``:

* ``GET  /_local_aws/health``    -> ``{"status": "ok", ...}``
* ``GET  /_local_aws/stats``     -> Lambda invocations/errors per function, async queue counters
* ``POST /_local_aws/wait-idle?timeout=S`` -> ``{"idle": bool}`` (no async invocation pending)
* ``ANY  /_local_aws/lambda-url/<id>/<path>`` -> a Lambda function URL (the address moto reports for it, see
  ``moto_patches.lambda_function_urls``): the request becomes a payload-2.0 event, the function's answer
  (``statusCode``/``headers``/``body``) the response; a function error is a 502, like AWS.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.config import Config

from local_aws import aws_events
from local_aws.async_invoke import AWS_RETRY_DELAYS, AsyncInvoker, AsyncPolicy, dead_letter_attributes, failure_record
from local_aws.lambda_runner import FunctionConfig, InvocationResult, LambdaRunner, LayerCode

LOG = logging.getLogger("local_aws")
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
ADMIN_PREFIX = "/_local_aws/"
FUNCTION_URL_PREFIX = "lambda-url/"
#: Lambda function URLs accept request bodies up to 6 MB
FUNCTION_URL_MAX_BODY = 6 * 1024 * 1024


def function_config(fn: Any) -> FunctionConfig:
    """moto's LambdaFunction -> the runner's view of it."""
    return FunctionConfig(
        name=fn.function_name, arn=fn.function_arn, handler=fn.handler or "", runtime=fn.run_time or "",
        timeout=float(fn.timeout or 3), memory_mb=int(fn.memory_size or 128), region=fn.region,
        environment={k: str(v) for k, v in (fn.environment_vars or {}).items()},
        code_sha=fn.code_sha_256, code_zip=fn.code_bytes, version=str(fn.version),
        layers=tuple(_layer_code(fn, layer["Arn"]) for layer in (fn.layers or [])),
    )


def _layer_code(fn: Any, layer_version_arn: str) -> LayerCode:
    """A deployed layer version's zip, as the function's configuration names it."""
    from moto.awslambda.models import lambda_backends

    version = lambda_backends[fn.account_id][fn.region].layers_versions_by_arn(layer_version_arn)
    return LayerCode(arn=layer_version_arn, code_sha=version.code_sha_256, code_zip=version.code_bytes)


def async_policy(fn: Any) -> AsyncPolicy:
    """Retries and failure targets: DeadLetterConfig + the (last) EventInvokeConfig, AWS defaults otherwise."""
    retries, on_failure = 2, None
    for config in getattr(fn, "event_invoke_config", []) or []:
        retries = int(config.config.get("MaximumRetryAttempts", retries))
        on_failure = ((config.config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return AsyncPolicy(max_retries=retries, dead_letter_arn=getattr(fn, "local_dead_letter_arn", None),
                       on_failure_arn=on_failure)


class LocalAwsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, lambda_mode: str = "subprocess",
                 wait_scale: float = 1.0, work_dir: Path | None = None, async_workers: int = 4,
                 max_lambda_concurrency: int | None = None):
        if wait_scale < 0:
            raise ValueError("wait_scale must be >= 0")
        self.host, self.requested_port = host, port
        self.lambda_mode, self.wait_scale = lambda_mode, wait_scale
        self.work_dir = Path(work_dir) if work_dir else None
        self.async_workers, self.max_lambda_concurrency = async_workers, max_lambda_concurrency
        self.port: int | None = None
        self.runner: LambdaRunner | None = None
        self.invoker: AsyncInvoker | None = None
        self.sqs_poller: aws_events.SqsEventSourcePoller | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._lambda_log = None
        self._log_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self.started_at = time.time()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- start / stop -----------------------------------------------------------------------------
    def start(self) -> str:
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        from local_aws import moto_patches

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.requested_port, self._wsgi(app), threaded=True,
                                   request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        # moto's Step Functions interpreter calls Lambda through http://localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        # Must be on before any state machine is created: the executing backend is a separate store.
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config.setdefault("lambda", {})["use_docker"] = True  # the "docker" path is the one we replace

        cache_dir = (self.work_dir / "lambda-code") if self.work_dir else None
        if self.work_dir:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._lambda_log = open(self.work_dir / "lambda.log", "a", encoding="utf-8")
        self.runner = LambdaRunner(self.endpoint_url, mode=self.lambda_mode, cache_dir=cache_dir,
                                   max_concurrency=self.max_lambda_concurrency, log_sink=self._write_lambda_log)
        delays = tuple(d * self.wait_scale for d in AWS_RETRY_DELAYS)
        self.invoker = AsyncInvoker(self.runner.invoke, self._on_async_exhausted, workers=self.async_workers,
                                    retry_delays=delays)
        moto_patches.apply_all(self._sync_invoke, self._async_submit, wait_scale=self.wait_scale,
                               endpoint_url=self.endpoint_url)
        # execution status-change events, immediate StopExecution, the SQS -> Lambda poller (local_aws.aws_events)
        self.sqs_poller = aws_events.install(self._sync_invoke, wait_scale=self.wait_scale)

        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws-http", daemon=True)
        self._thread.start()
        LOG.info("local AWS on %s (lambda %s, wait scale %s)", self.endpoint_url, self.lambda_mode, self.wait_scale)
        return self.endpoint_url

    def stop(self) -> None:
        if self.sqs_poller:
            self.sqs_poller.close()
        if self.invoker:
            self.invoker.close()
        if self.runner:
            self.runner.close()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)
        if self._lambda_log:
            self._lambda_log.close()
            self._lambda_log = None

    def __enter__(self) -> LocalAwsServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- moto hooks ---------------------------------------------------------------------------------
    def _sync_invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        result = self.runner.invoke(function_config(fn), event)
        try:
            fn.logs_backend.ensure_log_group(fn.logs_group_name)
            fn.save_logs(result.logs or f"(no output) request {result.request_id}")
        except Exception:  # logs are a convenience; never fail an invocation because of them
            LOG.debug("could not store logs for %s", fn.function_name, exc_info=True)
        return result.payload, result.errored, result.logs

    def _async_submit(self, fn: Any, event: Any) -> None:
        self.invoker.submit(function_config(fn), event, async_policy(fn))

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            region = os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION)
            self._clients[service] = boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=region, aws_access_key_id="local",
                aws_secret_access_key="local", config=Config(retries={"max_attempts": 2}, connect_timeout=5,
                                                             read_timeout=30))
        return self._clients[service]

    def _on_async_exhausted(self, fn: FunctionConfig, event: Any, result: InvocationResult, policy: AsyncPolicy,
                            attempts: int) -> bool:
        delivered = False
        if policy.dead_letter_arn:
            attributes = {k: {"DataType": "Number" if k == "ErrorCode" else "String", "StringValue": v}
                          for k, v in dead_letter_attributes(result).items()}
            self._send(policy.dead_letter_arn, json.dumps(event), attributes)
            delivered = True
        if policy.on_failure_arn:
            self._send(policy.on_failure_arn, json.dumps(failure_record(fn, event, result, attempts)), {})
            delivered = True
        return delivered

    def _send(self, target_arn: str, body: str, attributes: dict) -> None:
        if target_arn.startswith("arn:aws:sqs:"):
            account, name = target_arn.split(":")[4:6]
            sqs = self._client("sqs")
            queue_url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
        elif target_arn.startswith("arn:aws:sns:"):
            self._client("sns").publish(TopicArn=target_arn, Message=body, MessageAttributes=attributes)
        else:
            raise ValueError(f"unsupported failure target {target_arn} (SQS and SNS are supported locally)")

    def _write_lambda_log(self, fn: FunctionConfig, result: InvocationResult) -> None:
        if not self._lambda_log:
            return
        status = f"ERROR {result.error_type}" if result.errored else "OK"
        lines = [f"{time.strftime('%H:%M:%S')} {fn.name} {result.request_id} {result.duration_s * 1000:.0f}ms {status}"]
        lines += [f"    {line}" for line in result.logs.splitlines()]
        if result.errored:
            lines.append(f"    -> {result.payload[:2000]}")
        with self._log_lock:
            self._lambda_log.write("\n".join(lines) + "\n")
            self._lambda_log.flush()

    # ---- admin API --------------------------------------------------------------------------------
    def health(self) -> dict:
        return {"status": "ok", "endpoint": self.endpoint_url, "lambda_mode": self.lambda_mode,
                "wait_scale": self.wait_scale, "pid": os.getpid()}

    def stats(self) -> dict:
        return {"lambda": self.runner.stats(), "async": self.invoker.stats(),
                "sqs_event_sources": self.sqs_poller.stats()}

    # ---- Lambda function URLs ---------------------------------------------------------------------
    def _function_url(self, environ: dict, rest: str, start_response: Any) -> list[bytes]:
        from local_aws.moto_patches import FUNCTION_URLS

        url_id, _, sub_path = rest.partition("/")
        url_config = FUNCTION_URLS.get(url_id)
        if url_config is None or url_config.function.url_config is not url_config:
            return _respond(start_response, 404, {"Content-Type": "application/json"},
                            json.dumps({"Message": "no function URL here"}).encode())
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > FUNCTION_URL_MAX_BODY:
            return _respond(start_response, 413, {"Content-Type": "application/json"},
                            json.dumps({"Message": "Request must be smaller than 6291456 bytes"}).encode())
        body = environ["wsgi.input"].read(length) if length else b""
        event = function_url_event(environ, url_id, "/" + sub_path, body, url_config.function.region)
        payload, errored, _ = self._sync_invoke(url_config.function, event)
        if errored:
            return _respond(start_response, 502, {"Content-Type": "application/json"},
                            json.dumps({"Message": "Internal Server Error"}).encode())
        status, headers, data = function_url_response(payload)
        return _respond(start_response, status, headers, data)

    def _wsgi(self, app: Any) -> Any:
        def application(environ: dict, start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            if not path.startswith(ADMIN_PREFIX):
                return app(environ, start_response)
            route = path[len(ADMIN_PREFIX):]
            if route.startswith(FUNCTION_URL_PREFIX):
                return self._function_url(environ, route[len(FUNCTION_URL_PREFIX):], start_response)
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if route == "health":
                status, body = "200 OK", self.health()
            elif route == "stats":
                status, body = "200 OK", self.stats()
            elif route == "wait-idle" and environ["REQUEST_METHOD"] == "POST":
                timeout = min(float(query.get("timeout", ["30"])[0]), 600.0)
                status, body = "200 OK", {"idle": self.invoker.wait_idle(timeout)}
            else:
                status, body = "404 Not Found", {"error": f"unknown admin route {route!r}"}
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]

        return application


def function_url_event(environ: dict, url_id: str, path: str, body: bytes, region: str) -> dict:
    """A WSGI request as the payload-2.0 event a function URL delivers (header names lower-cased)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    query = environ.get("QUERY_STRING", "")
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": url_id, "domainName": f"{url_id}.lambda-url.{region}.on.aws",
            "domainPrefix": url_id, "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
            "http": {"method": environ.get("REQUEST_METHOD", "GET"), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"), "userAgent": headers.get("user-agent", "")},
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in parse_qs(query).items()}
    if body:
        event["body"] = text
    return event


def function_url_response(payload: str) -> tuple[int, dict[str, str], bytes]:
    """The function's answer as HTTP: a dict with `statusCode` is a response; anything else is a 200 JSON body."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        result = payload
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers.setdefault("Content-Type", "application/json")
        return int(result["statusCode"]), headers, data
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()


def _respond(start_response: Any, status: int, headers: dict[str, str], data: bytes) -> list[bytes]:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    start_response(f"{status} {phrase}", [*headers.items(), ("Content-Length", str(len(data)))])
    return [data]
