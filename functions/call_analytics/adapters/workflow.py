"""Step Functions: StartExecution with a deterministic name (the call id: a second start is harmless);
DescribeExecution (does an execution of that name exist)."""

from __future__ import annotations

import json
from typing import Any

from call_analytics.adapters.aws_errors import call_aws


class Workflow:
    def __init__(self, state_machine_arn: str, client: Any):
        self.state_machine_arn = state_machine_arn
        self.client = client

    def start(self, name: str, state: dict[str, Any]) -> tuple[str, bool]:
        """Returns (execution_arn, started_now). An execution of that name already existing -> started_now False."""
        started, response = call_aws(lambda: self.client.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(state)
        ), "StartExecution", expected={"ExecutionAlreadyExists"})
        if not started:
            return self.execution_arn(name), False
        return response["executionArn"], True

    def execution_status(self, name: str) -> str | None:
        """RUNNING / SUCCEEDED / FAILED / TIMED_OUT / ABORTED of the execution `name`; None when there is none."""
        exists, response = call_aws(lambda: self.client.describe_execution(executionArn=self.execution_arn(name)),
                                    "DescribeExecution", expected={"ExecutionDoesNotExist"})
        return response["status"] if exists else None

    def execution_arn(self, name: str) -> str:
        # arn:aws:states:region:account:stateMachine:Name -> arn:aws:states:region:account:execution:Name:name
        parts = self.state_machine_arn.split(":")
        return ":".join(parts[:5] + ["execution", parts[6], name]) if len(parts) >= 7 else name
