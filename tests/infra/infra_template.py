"""Helpers for the infrastructure tests: one synth, and readers for the parts of the template they check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import CallAnalyticsStack


@dataclass
class Synth:
    app: App
    stack: CallAnalyticsStack
    outdir: Path
    raw: dict[str, Any]
    template: Template

    @property
    def config(self):
        return self.stack.config

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.raw["Resources"].items() if r["Type"] == type_}

    def functions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """handler name (start_call, ...) -> (logical id, Properties) for the project's functions."""
        out = {}
        for logical_id, res in self.resources("AWS::Lambda::Function").items():
            handler = res["Properties"].get("Handler", "")
            if handler.startswith("call_analytics.handlers."):
                out[handler.split(".")[2]] = (logical_id, res["Properties"])
        return out

    def role_statements(self, role_ref: dict[str, Any]) -> list[dict[str, Any]]:
        """Every statement of the inline policies attached to a role (`{"Ref": role}` or GetAtt of it)."""
        role_id = role_ref.get("Ref") or role_ref["Fn::GetAtt"][0]
        statements = []
        for res in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in res["Properties"].get("Roles", []):
                statements.extend(res["Properties"]["PolicyDocument"]["Statement"])
        role = self.raw["Resources"][role_id]["Properties"]
        for policy in role.get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
        return statements

    def function_statements(self, handler: str) -> list[dict[str, Any]]:
        _, props = self.functions()[handler]
        return self.role_statements(props["Role"])

    def state_machine(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(logical id, Properties, parsed definition with each GetAtt Arn replaced by 'arn:<LogicalId>')."""
        (logical_id, res), = self.resources("AWS::StepFunctions::StateMachine").items()
        definition = res["Properties"]["DefinitionString"]
        if isinstance(definition, dict):
            sep, parts = definition["Fn::Join"]
            text = sep.join(p if isinstance(p, str) else _token(p) for p in parts)
        else:
            text = definition
        return logical_id, res["Properties"], json.loads(text)


def _token(part: dict[str, Any]) -> str:
    if "Fn::GetAtt" in part:
        return f"arn:{part['Fn::GetAtt'][0]}"
    if "Ref" in part:
        return f"ref:{part['Ref']}"
    raise AssertionError(f"unexpected intrinsic in the state machine definition: {part}")


def synthesize(context: dict[str, Any], outdir: Path, env: Environment | None = None) -> Synth:
    app, stack = build_app(context, outdir=str(outdir), env=env)
    assembly = app.synth()  # the cdk-nag Validations plugin runs here and raises on errors
    artifact = assembly.get_stack_by_name(stack.stack_name)
    raw = json.loads(Path(artifact.template_full_path).read_text())
    return Synth(app=app, stack=stack, outdir=outdir, raw=raw, template=Template.from_json(raw))


def all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """States of the machine and of nested Map item processors, by name."""
    out: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        out[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            out.update(all_states(processor))
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
