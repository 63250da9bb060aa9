"""Build the CDK app: config from context (cdk.json defaults + -c overrides), bundling switch, cdk-nag."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Environment

from infra.config import StackConfig, load_config, read_cdk_json_context
from infra.nag import add_nag_checks
from infra.names import REPO_ROOT
from infra.stack import CallAnalyticsStack

BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def build_app(
    context: dict[str, Any] | None = None, *, outdir: str | None = None, env: Environment | None = None,
) -> tuple[App, CallAnalyticsStack]:
    """`context` overrides cdk.json and the CLI's -c values (tests use it); `env` binds the stack to an account and
    region as the CDK CLI does (default: the CLI's CDK_DEFAULT_ACCOUNT/REGION). Synth with app.synth()."""
    if outdir is None and "CDK_OUTDIR" not in os.environ:
        outdir = str(REPO_ROOT / "cdk.out")  # plain `python app.py` writes where `cdk` would
    # cdk.json context (feature flags + parameters) at the lowest precedence, as the CDK CLI applies it;
    # CLI -c values (CDK_CONTEXT_JSON) override it, `context` (tests) overrides everything.
    kwargs: dict[str, Any] = {"context": read_cdk_json_context(), "post_cli_context": context or {}}
    if outdir:
        kwargs["outdir"] = outdir
    app = App(**kwargs)
    config: StackConfig = load_config(_node_context(app))
    if not config.bundle:
        # Must be set before any stack exists: CDK then stages assets without running the bundler.
        app.node.set_context(BUNDLING_STACKS, [])
    stack = CallAnalyticsStack(app, config.stack_name, config=config, stack_name=config.stack_name,
                               env=env or _environment())
    if config.nag:
        add_nag_checks(app)
    return app, stack


def _environment() -> Environment | None:
    """Bound to the CLI's account/region when the CDK CLI (or the local stack) sets them; otherwise agnostic.
    No lookups happen either way: the stack never calls AWS at synth time."""
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    return Environment(account=account, region=region) if account and region else None


def _node_context(app: App) -> dict[str, Any]:
    """Context the app received (CLI -c / CDK_CONTEXT_JSON / constructor), only the keys we model."""
    out = {}
    for key in StackConfig.model_fields:
        value = app.node.try_get_context(key)
        if value is not None:
            out[key] = value
    return out
