"""cdk-nag 3 wiring: the AwsSolutions pack as a Validations plugin, and narrowly scoped acknowledgements."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and its children, with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def add_nag_checks(app: App) -> None:
    """Synth fails on any unacknowledged AwsSolutions error (the report lands in the cloud assembly)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def nag_arn(stack: Stack, service: str, resource: str) -> str:
    """An ARN of `stack`'s own account as cdk-nag spells it in a finding: a pseudo parameter that is still a token
    shows as `<AWS::Region>` etc., one the stack is bound to (`cdk deploy` always binds) as its literal value."""
    def part(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value

    return (f"arn:{part(stack.partition, 'Partition')}:{service}:{part(stack.region, 'Region')}:"
            f"{part(stack.account, 'AccountId')}:{resource}")


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of a construct's resource, as cdk-nag names it in a finding."""
    return Stack.of(construct).resolve(construct.node.default_child.logical_id)  # type: ignore[union-attr]
