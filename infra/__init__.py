"""AWS CDK app for call analytics: the stack is assembled from one construct per capability.

Nothing here imports from functions/ (the Lambda asset root)."""

from __future__ import annotations

from infra.app import build_app
from infra.config import ConfigError, StackConfig, load_config
from infra.stack import CallAnalyticsStack

__all__ = ["CallAnalyticsStack", "ConfigError", "StackConfig", "build_app", "load_config"]
