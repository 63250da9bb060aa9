"""cdk-nag 3 wiring: the AwsSolutions pack as a Validations plugin, and narrowly scoped acknowledgements."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and its children, with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def add_nag_checks(app: App) -> None:
    """Synth fails on any unacknowledged AwsSolutions error (the report lands in the cloud assembly)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
