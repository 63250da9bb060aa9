"""Patches that let the genuine CDK CLI (``cdk bootstrap`` / ``cdk deploy`` / ``cdk diff`` / ``cdk destroy``) work
against moto 5.2.5's CloudFormation on 127.0.0.1. Each one is a measured gap between moto and AWS; the version
check in ``local_aws.moto_patches`` guards all of them (re-verify on a moto upgrade).

* ``template_url_any_host``: the CLI uploads the template to the bootstrap bucket and passes its path-style URL,
  ``http://127.0.0.1:PORT/<bucket>/<key>``. moto only reads path style for ``localhost`` or ``s3.*.amazonaws.com``
  and otherwise takes the first label of the host as the bucket ("127") -> "The specified bucket does not exist".
* ``change_set_outputs``: the CLI deploys through change sets. moto's ExecuteChangeSet applies the resources but
  never re-parses the template into the stack, so DescribeStacks shows no Outputs (and no Description) after a
  change-set deploy, and a second deploy compares against an empty template.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

_applied: set[str] = set()


def _once(name: str) -> bool:
    if name in _applied:
        return False
    _applied.add(name)
    return True


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
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name), None)
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def apply_all() -> None:
    template_url_any_host()
    change_set_outputs()
