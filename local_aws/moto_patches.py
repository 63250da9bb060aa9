"""The monkeypatches that make moto 5.2.5 run a CDK-synthesized serverless stack on one machine.

Every patch here works around a measured gap (see docs/local-stack.md, "The moto patches").
They touch moto internals, so the moto version is pinned and checked at import: when moto is
upgraded this module fails loudly instead of rotting silently; re-verify each patch, then bump
``SUPPORTED_MOTO_VERSION``.

Apply them in the process that runs the moto server, before the first request.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from importlib.metadata import version as _installed_version
from typing import Any

SUPPORTED_MOTO_VERSION = "5.2.5"
_MOTO_VERSION = _installed_version("moto")
if _MOTO_VERSION != SUPPORTED_MOTO_VERSION:
    raise ImportError(
        f"local_aws.moto_patches was written for moto=={SUPPORTED_MOTO_VERSION}, found moto=={_MOTO_VERSION}: "
        "re-verify every patch in local_aws/moto_patches.py against the new moto, then update SUPPORTED_MOTO_VERSION"
    )

# Custom-resource types whose providers are Node.js Lambdas (no Node runtime here; they also PUT their
# response with https.request(hostname, path), which drops moto's http://127.0.0.1:PORT).
NODE_CUSTOM_RESOURCE_TYPES = frozenset(
    {"Custom::S3AutoDeleteObjects", "Custom::LogRetention", "Custom::CDKBucketDeployment"}
)

_applied: set[str] = set()
_async_flag = threading.local()


_cfn_models: list[type] = []  # strong references: moto finds models through (weak) __subclasses__()


def _register_cfn_model(model: type) -> None:
    from moto.cloudformation import parsing

    _cfn_models.append(model)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    assert parsing.get_model_map()[model.cloudformation_type()] is model


def _once(name: str) -> bool:
    """True the first time a patch is applied (patches are idempotent)."""
    if name in _applied:
        return False
    _applied.add(name)
    return True


def sfn_cfn_state_machines_executable() -> None:
    """CloudFormation creates state machines in ``stepfunctions_backends`` while, with
    ``execute_state_machine`` on, the API serves ``stepfunctions_parser_backends``: stack-made state
    machines would be invisible (StateMachineDoesNotExist). Point the CFN lookup at the executing backend."""
    if not _once("sfn_cfn"):
        return
    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends


def sfn_default_execution_name() -> None:
    """StartExecution without ``name`` gets the ARN suffix ``None`` in moto, so a second unnamed start
    fails (or aliases the first one). AWS generates a UUID."""
    if not _once("sfn_name"):
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution


def _stringify_properties(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: _stringify_properties(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_properties(v) for v in value]
    return value


def cfn_custom_resources() -> None:
    """Custom resources. (1) moto's ResponseURL host is ``http://host.docker.internal`` (a Docker
    assumption): point it at loopback. (2) Real CloudFormation passes ResourceProperties as strings;
    moto passes bools/numbers and CDK's Python providers crash on ``.lower()`` -> stack hangs.
    (3) Node.js providers cannot run here (see NODE_CUSTOM_RESOURCE_TYPES): report them created."""
    if not _once("cfn_custom"):
        return
    import moto.settings as moto_settings
    from moto.cloudformation import custom_model
    from moto.moto_api._internal import mock_random

    moto_settings.moto_server_host = lambda: "http://127.0.0.1"
    original = custom_model.CustomModel.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        if kwargs.get("ResourceType") in NODE_CUSTOM_RESOURCE_TYPES:
            from moto.cloudformation import cloudformation_backends

            resource = custom_model.CustomModel(
                region_name, str(mock_random.uuid4()), kwargs["LogicalId"], resource_name
            )
            cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"]).add_custom_resource(resource)
            resource.set_data({})
            return resource
        patched = dict(cloudformation_json)
        patched["Properties"] = _stringify_properties(patched.get("Properties", {}))
        return original(cls, resource_name, patched, account_id, region_name, **kwargs)

    custom_model.CustomModel.create_from_cloudformation_json = classmethod(create)


def cfn_secretsmanager_secret() -> None:
    """moto's CloudFormation has no ``AWS::SecretsManager::Secret``: the resource is skipped and every
    Ref to it (env vars, outputs) resolves to nothing. Register a minimal model backed by the real
    Secrets Manager backend (Ref = ARN, like AWS)."""
    if not _once("cfn_secret"):
        return
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CfnSecret(CloudFormationModel):
        def __init__(self, arn: str, name: str, account_id: str, region_name: str):
            self.arn, self.name, self.account_id, self.region_name = arn, name, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Id", "Arn")

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json.get("Properties", {})
            secret_string = props.get("SecretString")
            if secret_string is None:
                secret_string = uuid.uuid4().hex  # stands in for GenerateSecretString
            backend = secretsmanager_backends[account_id][region_name]
            created = json.loads(backend.create_secret(
                name=props.get("Name") or resource_name, secret_string=secret_string, secret_binary=None,
                description=props.get("Description"), tags=props.get("Tags"), kms_key_id=props.get("KmsKeyId"),
                client_request_token=None, replica_regions=[], force_overwrite=False,
            ))
            return cls(created["ARN"], created["Name"], account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            secretsmanager_backends[account_id][region_name].delete_secret(
                self.arn, recovery_window_in_days=None, force_delete_without_recovery=True)

    _register_cfn_model(CfnSecret)


def cfn_lambda_dead_letter_config() -> None:
    """moto's CloudFormation drops a function's ``DeadLetterConfig`` (and has no
    ``AWS::Lambda::EventInvokeConfig``). Keep both on the function so the async invoker can apply
    AWS's retry + DLQ semantics."""
    if not _once("cfn_dlq"):
        return
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        fn = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        target = (cloudformation_json.get("Properties", {}).get("DeadLetterConfig") or {}).get("TargetArn")
        fn.local_dead_letter_arn = target
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create)


def cfn_lambda_event_invoke_config() -> None:
    """``AWS::Lambda::EventInvokeConfig`` (CDK ``configure_async_invoke``: retry attempts, on-failure
    destination) is unknown to moto's CloudFormation and silently skipped. Register it, backed by
    moto's own PutFunctionEventInvokeConfig."""
    if not _once("cfn_event_invoke_config"):
        return
    from moto.awslambda.utils import get_backend
    from moto.core.common_models import CloudFormationModel

    class CfnEventInvokeConfig(CloudFormationModel):
        def __init__(self, function_name: str):
            self.function_name = function_name

        @property
        def physical_resource_id(self) -> str:
            return self.function_name

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::EventInvokeConfig"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json.get("Properties", {})
            config = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
                      if k in props}
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
                if key in config:
                    config[key] = int(config[key])
            get_backend(account_id, region_name).put_function_event_invoke_config(props["FunctionName"], config)
            return cls(props["FunctionName"])

    _register_cfn_model(CfnEventInvokeConfig)


def cfn_s3_bucket_versioning() -> None:
    """moto's CloudFormation ignores a bucket's ``VersioningConfiguration``: the bucket would be
    unversioned and S3 events would carry no ``versionId`` (the pipeline keys calls on it)."""
    if not _once("cfn_bucket_versioning"):
        return
    from moto.s3.models import FakeBucket

    original = FakeBucket.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        status = (cloudformation_json.get("Properties", {}).get("VersioningConfiguration") or {}).get("Status")
        if status:
            bucket.versioning_status = status
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create)


def cfn_kms_key_tags() -> None:
    """moto creates a CloudFormation ``AWS::KMS::Key`` by passing the template's ``Tags``
    (``Key``/``Value``) to the KMS API, which expects ``TagKey``/``TagValue``: KeyError, the key is
    skipped, and every GetAtt on it fails the stack. Translate the tag shape first."""
    if not _once("cfn_kms_tags"):
        return
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json.get("Properties", {}))
        if props.get("Tags"):
            props["Tags"] = [{"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
                             for t in props["Tags"]]
        return original(cls, resource_name, {**cloudformation_json, "Properties": props}, account_id, region_name,
                        **kwargs)

    Key.create_from_cloudformation_json = classmethod(create)


_sequencer = itertools.count(1)


def s3_events_like_aws() -> None:
    """moto's S3 event record lacks fields AWS always sends (userIdentity, requestParameters,
    responseElements, bucket ownerIdentity, sequencer, versionId on versioned buckets), so typed parsers
    such as Powertools' ``S3Model`` reject it; it also encodes ``/`` in the key (AWS keeps it)."""
    if not _once("s3_events"):
        return
    from urllib.parse import quote_plus

    from moto.s3 import notifications

    original = notifications._get_s3_event

    def get_s3_event(event_name, bucket, key, notification_id):
        event = original(event_name, bucket, key, notification_id)
        record = event["Records"][0]
        record.update({
            "userIdentity": {"principalId": "AWS:LOCALPRINCIPAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                                 "x-amz-id-2": uuid.uuid4().hex},
        })
        record["s3"]["bucket"]["ownerIdentity"] = {"principalId": "LOCALOWNER"}
        obj = record["s3"]["object"]
        obj["key"] = quote_plus(key.name, safe="/")
        obj["sequencer"] = f"{next(_sequencer):018X}"
        if bucket.is_versioned and getattr(key, "version_id", None):
            obj["versionId"] = key.version_id
        return event

    notifications._get_s3_event = get_s3_event


#: url id -> moto's FunctionUrlConfig, for the local function-URL route of the server (LocalAwsServer)
FUNCTION_URLS: dict[str, Any] = {}
FUNCTION_URL_ROUTE = "/_local_aws/lambda-url/"


def lambda_function_urls(endpoint_url: str) -> None:
    """moto gives a function URL an unreachable ``https://<id>.lambda-url.<region>.on.aws`` address (it notes
    "Function URLs are not yet mocked") and its CloudFormation has no ``AWS::Lambda::Url``. Make the URL point
    at this server (``<endpoint>/_local_aws/lambda-url/<id>/``, served by ``LocalAwsServer``) and register the
    CloudFormation resource (``GetAtt FunctionUrl``), so e.g. the local AssemblyAI server's webhooks reach the
    function."""
    if not _once("lambda_function_urls"):
        return
    from moto.awslambda import models as lambda_models
    from moto.awslambda.utils import get_backend
    from moto.core.common_models import CloudFormationModel

    original_init = lambda_models.FunctionUrlConfig.__init__

    def init(self, function, config):
        original_init(self, function, config)
        url_id = uuid.uuid4().hex
        self.url = f"{endpoint_url.rstrip('/')}{FUNCTION_URL_ROUTE}{url_id}/"
        FUNCTION_URLS[url_id] = self

    lambda_models.FunctionUrlConfig.__init__ = init

    class CfnFunctionUrl(CloudFormationModel):
        def __init__(self, url_config: Any):
            self.url_config = url_config

        @property
        def physical_resource_id(self) -> str:
            return self.url_config.function.function_arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Url"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("FunctionUrl", "FunctionArn")

        def get_cfn_attribute(self, attribute_name: str) -> str:
            if attribute_name == "FunctionUrl":
                return self.url_config.url
            return self.url_config.function.function_arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json.get("Properties", {})
            config = {k: props[k] for k in ("AuthType", "Cors", "InvokeMode") if k in props}
            url_config = get_backend(account_id, region_name).create_function_url_config(
                props["TargetFunctionArn"], config)
            return cls(url_config)

    _register_cfn_model(CfnFunctionUrl)


AsyncSubmit = Callable[[Any, dict], None]
SyncInvoke = Callable[[Any, Any], tuple[str, bool, str]]


def lambda_local_runtime(sync_invoke: SyncInvoke, async_submit: AsyncSubmit) -> None:
    """moto runs Lambda code only in Docker. Route every invocation to the local runner instead:
    ``_invoke_lambda`` is the one method behind the Invoke API, Step Functions tasks, S3/SNS
    notifications and custom resources. Asynchronous sources (InvocationType=Event, S3 and SNS
    notifications, which moto delivers synchronously inside PutObject/Publish) go to ``async_submit``
    and return at once, like on AWS."""
    if not _once("lambda_runtime"):
        return
    from moto.awslambda import models as lambda_models
    from moto.s3 import notifications

    lambda_models.LambdaFunction._invoke_lambda = lambda self, event=None: sync_invoke(self, event)
    original_invoke = lambda_models.LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):
        invocation_type = (request_headers or {}).get("x-amz-invocation-type", "RequestResponse")
        if getattr(_async_flag, "on", False) or invocation_type == "Event":
            async_submit(self, json.loads(body) if body else {})
            return ""
        if invocation_type == "DryRun":
            return ""
        return original_invoke(self, body, request_headers, response_headers)

    lambda_models.LambdaFunction.invoke = invoke

    def as_event_invocation(original: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            _async_flag.on = True
            try:
                return original(*args, **kwargs)
            finally:
                _async_flag.on = False
        return wrapper

    notifications._invoke_awslambda = as_event_invocation(notifications._invoke_awslambda)
    lambda_models.LambdaBackend.send_sns_message = as_event_invocation(lambda_models.LambdaBackend.send_sns_message)


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: scales only ``sleep``."""

    def __init__(self, scale: float):
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        if seconds * self.scale > 0:
            time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def sfn_scale_waits(scale: float) -> None:
    """Opt-in only (``--wait-scale``): multiply Wait states and Retry back-off by ``scale`` for fast
    local runs. Replaces moto's wait loop, whose re-entry check uses whole seconds and would
    otherwise spin on sub-second waits."""
    if scale == 1.0 or not _once("sfn_wait_scale"):
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def wait_interval(self, env, wait_seconds):
        if wait_seconds > 0 and scale > 0:
            env.program_state_event.wait(wait_seconds * scale)

    WaitFunction._wait_interval = wait_interval
    retrier_decl.time = _ScaledTime(scale)


def apply_all(sync_invoke: SyncInvoke, async_submit: AsyncSubmit, wait_scale: float = 1.0,
              endpoint_url: str | None = None) -> None:
    from local_aws import cfn_cli_patches

    cfn_cli_patches.apply_all()  # what `cdk deploy` (change sets, template URLs) needs
    sfn_cfn_state_machines_executable()
    sfn_default_execution_name()
    cfn_custom_resources()
    cfn_secretsmanager_secret()
    cfn_lambda_dead_letter_config()
    cfn_lambda_event_invoke_config()
    cfn_s3_bucket_versioning()
    cfn_kms_key_tags()
    s3_events_like_aws()
    lambda_local_runtime(sync_invoke, async_submit)
    sfn_scale_waits(wait_scale)
    if endpoint_url:
        lambda_function_urls(endpoint_url)
