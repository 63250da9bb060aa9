"""Patches that let the genuine CDK CLI (``cdk bootstrap`` / ``cdk deploy`` / ``cdk diff`` / ``cdk destroy``) work
against moto 5.2.5's CloudFormation on 127.0.0.1. Each one is a measured gap between moto and AWS; the version
check in ``local_aws.moto_patches`` guards all of them (re-verify on a moto upgrade).

* ``template_url_any_host``: the CLI uploads the template to the bootstrap bucket and passes its path-style URL,
  ``http://127.0.0.1:PORT/<bucket>/<key>``. moto only reads path style for ``localhost`` or ``s3.*.amazonaws.com``
  and otherwise takes the first label of the host as the bucket ("127") -> "The specified bucket does not exist".
* ``change_set_outputs``: the CLI deploys through change sets. moto's ExecuteChangeSet applies the resources but
  never re-parses the template into the stack, so DescribeStacks shows no Outputs (and no Description) after a
  change-set deploy, and a second deploy compares against an empty template.
* ``change_set_waits_for_custom_resources``: moto's ExecuteChangeSet marks the stack ``*_COMPLETE`` at once, while
  the custom resources it started (CDK's bucket-notifications handler, a Lambda) are still running, so `cdk deploy`
  returned before the bucket notification existed and the first upload started nothing. Like AWS (and like moto's
  own CreateStack), the stack now stays ``*_IN_PROGRESS`` until every custom resource has answered, and a FAILED
  answer ends it ``*_FAILED`` with the reason.
* ``change_set_not_found``: before each update the CLI deletes its change set `cdk-deploy-change-set` and waits
  until DescribeChangeSet answers ChangeSetNotFound, as AWS does. moto answers "Stack with id … does not exist"
  (a ValidationError, which the CLI reports as a failed deploy), and DeleteChangeSet of an unknown name is a 500.
* ``ssm_parameter_previous_value``: on an update the CLI passes the template's SSM-typed parameter
  (`BootstrapVersion`, type `AWS::SSM::Parameter::Value<String>`) with UsePreviousValue. AWS re-resolves the
  previous parameter *name*; moto hands over the previous *resolved value* ("30") and then looks that up as an SSM
  parameter name, which crashes the update with a 500. A value that names no parameter and is no SSM path is
  taken as that already resolved value; a missing path is a ValidationError, as on AWS.
* ``resource_policies``: moto's CloudFormation skips ``AWS::S3::BucketPolicy``, ``AWS::SQS::QueuePolicy`` and
  ``AWS::SNS::TopicPolicy`` ("No Moto CloudFormation support"), so the deployed buckets, queues and topics had no
  policy. Minimal models put each policy on its resource (GetBucketPolicy / the Policy attribute show it, as on
  AWS). moto enforces bucket policies without evaluating conditions, so the stack's SSL-only statement (Deny
  unless aws:SecureTransport) would deny every request; the local endpoint is loopback HTTP, which stands in for
  TLS, so that one statement is left out of moto's evaluation (it is still stored and shown).
* ``lambda_function_layers``: moto's CloudFormation model of ``AWS::Lambda::Function`` drops ``Layers``, so a
  deployed function has no layer and the local runtime could not put the deployed dependency layer on its path
  (moto's UpdateFunctionConfiguration, which a stack update uses, does keep them). moto also resolves a Ref to
  its own layer version to the model object instead of the ARN.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from local_aws.moto_patches import _once, _register_cfn_model


def _find_change_set(backend: Any, change_set_name: str) -> Any:
    """A change set by ARN or by name (the CLI uses the name), or None."""
    if change_set_name in backend.change_sets:
        return backend.change_sets[change_set_name]
    return next((cs for cs in backend.change_sets.values() if cs.change_set_name == change_set_name), None)


def bucket_and_key(template_url: str) -> tuple[str, str]:
    """Bucket and key of a template URL in any of the forms AWS accepts (virtual-hosted, path style on an AWS
    S3 endpoint, or path style on any other endpoint, such as this local AWS)."""
    parts = urlparse(template_url)
    host = parts.hostname or ""
    path = parts.path.lstrip("/")
    virtual_hosted = ".s3." in host or ".s3-" in host
    if host.endswith(("amazonaws.com", "amazonaws.com.cn")) and virtual_hosted:
        return host.split(".s3", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def template_url_any_host() -> None:
    if not _once("template_url"):
        return
    from moto.cloudformation import models, responses, utils
    from moto.s3.models import s3_backends

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        bucket, key = bucket_and_key(template_url)
        return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")

    for module in (utils, responses, models):
        module.get_stack_from_s3_url = get_stack_from_s3_url  # type: ignore[attr-defined]


def change_set_outputs() -> None:
    if not _once("change_set_outputs"):
        return
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        change_set = _find_change_set(self, change_set_name)
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        kind = change_set.change_set_type
        if not stack.resource_map.creation_complete():  # custom resources still working: not done yet
            if stack.events and stack.events[-1].resource_status == f"{kind}_COMPLETE":
                stack.events.pop()
            stack.status = f"{kind}_IN_PROGRESS"
            stack.local_pending_change_set = kind

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def change_set_waits_for_custom_resources() -> None:
    if not _once("change_set_waits"):
        return
    from moto.cloudformation.models import Stack
    from moto.cloudformation.responses import CloudFormationResponse

    original_verify = Stack.verify_readiness

    def verify_readiness(self: Any) -> None:
        kind = getattr(self, "local_pending_change_set", None)
        if kind is None:
            return original_verify(self)
        if self.resource_map.creation_complete():
            self.local_pending_change_set = None
            self.status = f"{kind}_COMPLETE"
            self._add_stack_event(f"{kind}_COMPLETE")

    original_response = CloudFormationResponse.process_cfn_response

    def process_cfn_response(self: Any) -> Any:
        if self._get_param("Status") == "FAILED":
            stack = self.cloudformation_backend.get_stack(self._get_param("StackId"))
            kind = getattr(stack, "local_pending_change_set", None) or "CREATE"
            reason = f"{self._get_param('LogicalResourceId')}: {self._get_param('Reason') or 'custom resource failed'}"
            stack.local_pending_change_set = None
            stack.status = f"{kind}_FAILED"
            stack._add_stack_event(f"{kind}_FAILED", resource_status_reason=reason)
        return original_response(self)

    Stack.verify_readiness = verify_readiness  # type: ignore[method-assign]
    CloudFormationResponse.process_cfn_response = process_cfn_response  # type: ignore[method-assign]


def change_set_not_found() -> None:
    if not _once("change_set_not_found"):
        return
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.cloudformation.models import CloudFormationBackend

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"

        def __init__(self, name: str):
            super().__init__(f"ChangeSet [{name}] does not exist")
            self.status_code = 404

    def describe_change_set(self: Any, change_set_name: str) -> Any:
        change_set = _find_change_set(self, change_set_name)
        if change_set is None:
            raise ChangeSetNotFound(change_set_name)
        return change_set

    def delete_change_set(self: Any, change_set_name: str) -> None:
        change_set = _find_change_set(self, change_set_name)
        if change_set is None:
            raise ChangeSetNotFound(change_set_name)
        del self.change_sets[change_set.change_set_id]

    CloudFormationBackend.describe_change_set = describe_change_set  # type: ignore[method-assign]
    CloudFormationBackend.delete_change_set = delete_change_set  # type: ignore[method-assign]


def ssm_parameter_previous_value() -> None:
    if not _once("ssm_previous_value"):
        return
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import ResourceMap
    from moto.ssm.models import ssm_backends

    def parse_ssm_parameter(self: Any, value: str, value_type: str) -> Any:
        parameter = ssm_backends[self._account_id][self._region_name].get_parameter(value)
        if parameter is None:
            if not str(value).startswith("/"):
                return value  # UsePreviousValue: moto passes the resolved value, not the parameter name
            raise ValidationError(message=f"Unable to fetch parameters [{value}] from parameter store for this "
                                          "account.")
        return parameter.value.split(",") if value_type.find("List") > 0 else parameter.value

    ResourceMap.parse_ssm_parameter = parse_ssm_parameter  # type: ignore[method-assign]


def lambda_function_layers() -> None:
    if not _once("lambda_layers"):
        return
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.create_from_cloudformation_json.__func__

    def create(cls: Any, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str,
               **kwargs: Any) -> Any:
        fn = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        # moto resolves a Ref to its own AWS::Lambda::LayerVersion to the model object, not to the version ARN
        layers = [getattr(layer, "arn", layer) for layer in cloudformation_json.get("Properties", {}).get("Layers")
                  or []]
        if layers:
            fn.layers = fn._get_layers_data(layers)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign]


def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _is_transport_only_deny(statement: dict) -> bool:
    condition = statement.get("Condition") or {}
    return (statement.get("Effect") == "Deny" and set(condition) == {"Bool"}
            and set(condition["Bool"]) == {"aws:SecureTransport"}
            and str(condition["Bool"]["aws:SecureTransport"]).lower() == "false")


def resource_policies() -> None:
    if not _once("resource_policies"):
        return
    from moto.core.common_models import CloudFormationModel
    from moto.s3.models import FakeBucket, s3_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    def s3_backend(account_id: str, region_name: str) -> Any:
        from moto.utilities.utils import get_partition

        return s3_backends[account_id][get_partition(region_name)]

    class _Policy:
        """Shared behaviour (moto finds models among the direct subclasses of CloudFormationModel)."""
        #: the CloudFormation type and the property naming the policy's targets
        TYPE = ""
        TARGETS = ""

        def __init__(self, physical_id: str, targets: list[str], account_id: str, region_name: str):
            self.physical_id, self.targets = physical_id, targets
            self.account_id, self.region_name = account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return self.physical_id

        @classmethod
        def cloudformation_type(cls) -> str:
            return cls.TYPE

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.physical_id

        @classmethod
        def apply(cls, target: str, policy: str | None, account_id: str, region_name: str) -> None:
            raise NotImplementedError

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:
            props = cloudformation_json.get("Properties", {})
            targets = props.get(cls.TARGETS)
            targets = targets if isinstance(targets, list) else [targets]
            policy = _policy_text(props["PolicyDocument"])
            for target in targets:
                cls.apply(str(target), policy, account_id, region_name)
            return cls(f"{resource_name}-{abs(hash(policy)) % 10**8}", [str(t) for t in targets], account_id,
                       region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: dict, account_id: str, region_name: str) -> Any:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            for target in self.targets:
                try:
                    self.apply(target, None, account_id, region_name)
                except Exception:  # the resource went first (stack deletion order): nothing to remove
                    pass

    class BucketPolicy(_Policy, CloudFormationModel):
        TYPE, TARGETS = "AWS::S3::BucketPolicy", "Bucket"

        @classmethod
        def apply(cls, target: str, policy: str | None, account_id: str, region_name: str) -> None:
            backend = s3_backend(account_id, region_name)
            if policy is None:
                backend.delete_bucket_policy(target)
            else:
                backend.put_bucket_policy(target, policy.encode())

    class QueuePolicy(_Policy, CloudFormationModel):
        TYPE, TARGETS = "AWS::SQS::QueuePolicy", "Queues"

        @classmethod
        def apply(cls, target: str, policy: str | None, account_id: str, region_name: str) -> None:
            sqs_backends[account_id][region_name].set_queue_attributes(target.rstrip("/").rsplit("/", 1)[-1],
                                                                       {"Policy": policy or ""})

    class TopicPolicy(_Policy, CloudFormationModel):
        TYPE, TARGETS = "AWS::SNS::TopicPolicy", "Topics"

        @classmethod
        def apply(cls, target: str, policy: str | None, account_id: str, region_name: str) -> None:
            # moto's attribute names are snake_case (its API layer converts "Policy")
            sns_backends[account_id][region_name].set_topic_attribute(target, "policy", policy or "{}")

    for model in (BucketPolicy, QueuePolicy, TopicPolicy):
        _register_cfn_model(model)

    original_permission = FakeBucket.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return original_permission(self, action, resource)
        document = json.loads(self.policy)
        statements = document.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [statement for statement in statements if not _is_transport_only_deny(statement)]
        if len(kept) == len(statements):
            return original_permission(self, action, resource)
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def sns_subscriptions() -> None:
    """AWS::SNS::Subscription (moto's CloudFormation knows only a topic's inline `Subscription` list): the live
    path subscribes its queue with raw message delivery (infra/live.py). Created through moto's own subscribe, with
    the template's attributes (RawMessageDelivery, FilterPolicy, RedrivePolicy...)."""
    if not _once("sns_subscriptions"):
        return
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    attribute_names = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy")

    class Subscription(CloudFormationModel):
        def __init__(self, arn: str, account_id: str, region_name: str):
            self.arn, self.account_id, self.region_name = arn, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def cloudformation_type(cls) -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:
            props = cloudformation_json.get("Properties", {})
            backend = sns_backends[account_id][region_name]
            subscription = backend.subscribe(str(props["TopicArn"]), str(props["Endpoint"]), str(props["Protocol"]))
            for name in attribute_names:
                if name in props:
                    value = props[name]
                    text = json.dumps(value) if isinstance(value, dict) else str(value).lower() \
                        if isinstance(value, bool) else str(value)
                    backend.set_subscription_attributes(subscription.arn, name, text)
            return cls(subscription.arn, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: dict, account_id: str, region_name: str) -> Any:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            try:
                sns_backends[account_id][region_name].unsubscribe(self.arn)
            except Exception:  # the topic went first (stack deletion order): nothing to remove
                pass

    _register_cfn_model(Subscription)


def apply_all() -> None:
    template_url_any_host()
    change_set_outputs()
    change_set_waits_for_custom_resources()
    change_set_not_found()
    ssm_parameter_previous_value()
    resource_policies()
    sns_subscriptions()
    lambda_function_layers()
