"""CallAnalyticsStack: composes one construct per capability, wires what crosses them, exports stable outputs."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Stack, Tags
from constructs import Construct

from infra.config import StackConfig
from infra.functions import Functions
from infra.layer import DependencyLayer
from infra.live import LiveInsights
from infra.names import Output
from infra.notifications import Notifications
from infra.storage import Storage
from infra.trigger import RecordingTrigger
from infra.workflow import Workflow


class CallAnalyticsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, description="Call analytics: S3 uploads -> AssemblyAI -> "
                         "Step Functions -> DynamoDB/S3/SNS", **kwargs)
        # cost-allocation tag; not on the KMS key: moto's CloudFormation KMS parser rejects Key/Value tags and the
        # local stack deploys this same template
        Tags.of(self).add("app", "call-analytics", exclude_resource_types=["AWS::KMS::Key"])
        self.config = config

        self.storage = Storage(self, "Storage", config=config)
        self.notifications = Notifications(self, "Notifications", config=config)
        self.layer = DependencyLayer(self, "DependencyLayer", bundle=config.bundle,
                                     python_version=config.python_version)
        self.live = LiveInsights(self, "LiveInsights", config=config, bucket=self.storage.bucket)
        self.functions = Functions(self, "Functions", config=config, storage=self.storage,
                                   notifications=self.notifications, live=self.live, layer=self.layer.layer)
        self.workflow = Workflow(self, "Workflow", config=config, functions=self.functions,
                                 workflow_dlq=self.notifications.workflow_dlq)
        self.functions.attach_state_machine(self.workflow.state_machine)
        self.trigger = RecordingTrigger(self, "Trigger", config=config, bucket=self.storage.bucket,
                                        start_call=self.functions.start_call)
        if not config.bundle:
            Annotations.of(self.layer).add_warning_v2(
                "call-analytics:placeholder-layer",
                "The dependency layer is a placeholder (synth without -c bundle=true). Deploy with "
                "`cdk deploy -c bundle=true` (make deploy), or the functions cannot import their dependencies.")
        self._outputs()

    def _outputs(self) -> None:
        s, n, f, w, c = self.storage, self.notifications, self.functions, self.workflow, self.config
        for logical_id, value, description in (
            (Output.RECORDINGS_BUCKET, s.bucket.bucket_name, f"Upload recordings under {c.recordings_prefix} here"),
            # callctl upload reads these two: an upload elsewhere triggers nothing, another file type fails the call
            (Output.RECORDINGS_PREFIX, c.recordings_prefix, "Key prefix of uploads that start a call"),
            (Output.RECORDING_SUFFIXES, ",".join(c.trigger_suffixes),
             "File types (comma-separated, any case) start_call accepts; other uploads are recorded FAILED"),
            (Output.CALLS_TABLE, s.calls_table.table_name, "Call records and analysis results"),
            (Output.IDEMPOTENCY_TABLE, s.idempotency_table.table_name, "Powertools idempotency records"),
            (Output.RESULTS_TOPIC, n.topic.topic_arn, "Completed/failed call notifications (attribute status)"),
            (Output.STATE_MACHINE, w.state_machine.state_machine_arn, "Per-call workflow"),
            (Output.API_KEY_SECRET, s.api_key_secret.secret_arn, "Put the AssemblyAI API key here"),
            (Output.START_CALL_FUNCTION, f.start_call.function_name, "S3-triggered entry function"),
            (Output.START_CALL_DLQ, n.start_call_dlq.queue_url, "start_call events that failed all retries (consumed)"),
            (Output.WORKFLOW_DLQ, n.workflow_dlq.queue_url,
             "Executions that ended FAILED/TIMED_OUT/ABORTED (consumed)"),
            (Output.LIMITS_TABLE, s.limits_table.table_name, "Transcription slots and LLM request windows"),
            (Output.DEAD_LETTERS_FUNCTION, f.dead_letters.function_name,
             "Consumes StartCallDlq and WorkflowDlq: records those calls FAILED and announces them"),
            (Output.DEAD_LETTERS_DLQ, n.dead_letters_dlq.queue_url, "Messages dead_letters could not handle"),
            (Output.LIVE_TOPIC, self.live.topic.topic_arn,
             "Edge clients publish their live LLM responses here (stored on the call record)"),
            (Output.EDGE_CLIENT_POLICY, self.live.edge_client_policy.managed_policy_arn,
             "Attach to the edge clients' IAM identity: publish live insights, upload recordings, nothing else"),
            (Output.LIVE_DLQ, self.live.dlq.queue_url, "Live insights store_live_insight could not store"),
        ):
            out = CfnOutput(self, logical_id, value=value, description=description)
            out.override_logical_id(logical_id)
        if f.webhook_url is not None:
            out = CfnOutput(self, Output.TRANSCRIPT_WEBHOOK_URL, value=f.webhook_url.url,
                            description="AssemblyAI completion webhook (function URL; requests need the shared secret)")
            out.override_logical_id(Output.TRANSCRIPT_WEBHOOK_URL)
