"""The eight Lambda functions of docs/architecture.md: one factory for the defaults, exact env vars, one role each,
least privilege through grant_*."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import LOG_RETENTION_DAYS, StackConfig
from infra.layer import lambda_runtime
from infra.live import STORE_LIVE_INSIGHT_TIMEOUT_SECONDS, LiveInsights
from infra.nag import acknowledge, logical_id, nag_arn
from infra.names import (
    FUNCTIONS_DIR,
    HANDLER_ENV,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME,
    PROFILES_PREFIX,
    RESULTS_PREFIX,
    Handler,
    HttpTimeouts,
    handler_path,
)
from infra.notifications import DEAD_LETTERS_TIMEOUT_SECONDS, Notifications
from infra.storage import Storage

ARCHITECTURE = lambda_.Architecture.X86_64  # must match the layer's pip platform (infra/layer.py)
CODE_EXCLUDES = ["requirements.txt", "**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/*.egg-info"]

_RETENTION = dict(zip(LOG_RETENTION_DAYS, (m for m in logs.RetentionDays if m.name != "INFINITE"), strict=True))

#: partition keys of the limits table each capability may touch (functions/call_analytics/adapters/limits.py)
SEMAPHORE_KEYS = "SEM#*"
RATE_KEYS = "RATE#*"
CALLBACK_KEYS = "CALLBACK#*"  # completion_webhook: task tokens by transcript id

#: start_call's async invocations: Lambda retries twice, then the event + error go to the DLQ
START_CALL_ASYNC_RETRIES = 2
START_CALL_MAX_EVENT_AGE = Duration.hours(6)
#: dead_letters reads small batches: each message is a few DynamoDB calls and at most one SNS publish per call
DEAD_LETTERS_BATCH_SIZE = 5
#: store_live_insight: a few DynamoDB writes per insight; small batches keep the insight-to-stored latency low
LIVE_BATCH_SIZE = 10


def llm_requests_per_minute_env(config: StackConfig) -> str:
    """LLM_REQUESTS_PER_MINUTE: `30` for one limit, the map's JSON (`{"*":30,"gpt-4.1":60}`) for per-model ones."""
    value = config.llm_requests_per_minute
    return str(value) if isinstance(value, int) else json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Sizing:
    timeout: Duration
    memory_mb: int


#: time a handler needs besides its AssemblyAI requests (cold start, DynamoDB/S3 calls, answering)
HANDLER_WORK_SECONDS = 10


def http_timeout_seconds(*requests: float) -> int:
    """A Lambda timeout that leaves every listed request its full connect + read timeouts before the client's
    deadline (Lambda timeout - HttpTimeouts.DEADLINE_MARGIN), plus the handler's own work: the timeouts the
    client is configured with are the ones that apply, not what is left of a too-short Lambda."""
    return int(HANDLER_WORK_SECONDS + HttpTimeouts.DEADLINE_MARGIN
               + sum(HttpTimeouts.CONNECT + read for read in requests))


def sizing(name: str, config: StackConfig) -> Sizing:
    """Deliberate per-function limits, sized from the HTTP timeouts of the AssemblyAI requests each one makes."""
    rest = HttpTimeouts.READ
    if name == Handler.SUBMIT_TRANSCRIPTION:
        # `upload` streams the recording from S3 to AssemblyAI: more time, more memory (= more network)
        if config.audio_delivery == "upload":
            return Sizing(Duration.seconds(max(600, http_timeout_seconds(HttpTimeouts.UPLOAD, rest, rest))), 1024)
        # POST /v2/transcript, and the lookup of a job whose POST may have gone through
        return Sizing(Duration.seconds(max(60, http_timeout_seconds(rest, rest))), 256)
    return {
        Handler.START_CALL: Sizing(Duration.seconds(60), 256),  # HEAD + profile + StartExecution per record
        Handler.CHECK_TRANSCRIPT: Sizing(Duration.seconds(http_timeout_seconds(rest)), 256),  # one GET
        # long transcripts: JSON + VTT
        Handler.FETCH_TRANSCRIPT: Sizing(Duration.seconds(max(120, http_timeout_seconds(rest, rest))), 1024),
        # an LLM Gateway request and its repair
        Handler.RUN_ANALYSIS: Sizing(Duration.seconds(max(300, http_timeout_seconds(HttpTimeouts.LLM,
                                                                                   HttpTimeouts.LLM))), 512),
        Handler.FINALIZE_CALL: Sizing(Duration.seconds(60), 256),
        Handler.RECORD_FAILURE: Sizing(Duration.seconds(30), 256),
        # the queues it reads hide a message 6x this long (infra/notifications.py)
        Handler.DEAD_LETTERS: Sizing(Duration.seconds(DEAD_LETTERS_TIMEOUT_SECONDS), 256),
        # the live-insights queue hides a message 6x this long (infra/live.py)
        Handler.STORE_LIVE_INSIGHT: Sizing(Duration.seconds(STORE_LIVE_INSIGHT_TIMEOUT_SECONDS), 256),
        Handler.AWAIT_TRANSCRIPT: Sizing(Duration.seconds(30), 256),  # one UpdateItem (+ SendTaskSuccess)
        # AssemblyAI wants a 2xx within 10 s (then it retries): secret + one UpdateItem + SendTaskSuccess
        Handler.TRANSCRIPT_WEBHOOK: Sizing(Duration.seconds(10), 256),
    }[name]


class Functions(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, storage: Storage,
        notifications: Notifications, live: LiveInsights, layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._layer = layer
        self._code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=CODE_EXCLUDES)
        self._removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY
        self._env_values = {
            "CALLS_TABLE": storage.calls_table.table_name,
            "IDEMPOTENCY_TABLE": storage.idempotency_table.table_name,
            "LIMITS_TABLE": storage.limits_table.table_name,
            "RECORDINGS_BUCKET": storage.bucket.bucket_name,
            "RESULTS_PREFIX": RESULTS_PREFIX,
            "PROFILES_PREFIX": PROFILES_PREFIX,
            "DEFAULT_PROFILE": config.default_profile,
            "RESULTS_TOPIC_ARN": notifications.topic.topic_arn,
            "ASSEMBLYAI_SECRET_ARN": storage.api_key_secret.secret_arn,
            "ASSEMBLYAI_API_BASE_URL": config.api_base_url,
            "ASSEMBLYAI_LLM_BASE_URL": config.llm_base_url,
            "AUDIO_DELIVERY": config.audio_delivery,
            "PRESIGN_TTL_SECONDS": str(config.presign_ttl_seconds),
            "POLL_INITIAL_SECONDS": str(config.poll_initial_seconds),
            "POLL_EXPECTED_RTF": str(config.poll_expected_rtf),
            "TRANSCRIPTION_CONCURRENCY": str(config.transcription_concurrency),
            "SLOT_WAIT_MAX_SECONDS": str(config.slot_wait_max_seconds),
            "SLOT_WAIT_BUDGET_SECONDS": str(config.slot_wait_budget_seconds),
            "LLM_REQUESTS_PER_MINUTE": llm_requests_per_minute_env(config),
            "ANALYSIS_WAIT_BUDGET_SECONDS": str(config.analysis_wait_budget_seconds),
            "POLL_MAX_SECONDS": str(config.poll_max_seconds),
            "POLL_BACKOFF": str(config.poll_backoff),
            "OUTAGE_BUDGET_SECONDS": str(config.outage_budget_seconds),
            "TRANSCRIPTION_TIMEOUT_SECONDS": str(config.transcription_timeout_seconds),
            "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": POWERTOOLS_METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": config.log_level,
        }
        self._storage, self._topic = storage, notifications.topic
        recordings, results, profiles = f"{config.recordings_prefix}*", f"{RESULTS_PREFIX}*", f"{PROFILES_PREFIX}*"

        self.start_call = self._function(
            "StartCall", Handler.START_CALL,
            reserved_concurrency=config.start_call_reserved_concurrency,
            deferred_env=("STATE_MACHINE_ARN",),
        )
        self.start_call.configure_async_invoke(
            retry_attempts=START_CALL_ASYNC_RETRIES,
            max_event_age=START_CALL_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(notifications.start_call_dlq),
        )
        self._read_objects(self.start_call, recordings, profiles)
        self._put_objects(self.start_call, results)  # the profile snapshot results/<call_id>/profile.json
        self._use_calls_table(self.start_call)
        storage.idempotency_table.grant_read_write_data(self.start_call)
        self._publish(self.start_call)

        self.submit_transcription = self._function("SubmitTranscription", Handler.SUBMIT_TRANSCRIPTION)
        self._read_objects(self.submit_transcription, recordings, profiles, results)  # presigns recordings/*
        self._use_calls_table(self.submit_transcription)
        self._use_limits(self.submit_transcription, SEMAPHORE_KEYS, "dynamodb:GetItem", "dynamodb:UpdateItem")
        storage.api_key_secret.grant_read(self.submit_transcription)

        self.check_transcript = self._function("CheckTranscript", Handler.CHECK_TRANSCRIPT)
        self._use_calls_table(self.check_transcript)
        self._use_limits(self.check_transcript, SEMAPHORE_KEYS, "dynamodb:UpdateItem")  # release only
        storage.api_key_secret.grant_read(self.check_transcript)

        self.fetch_transcript = self._function("FetchTranscript", Handler.FETCH_TRANSCRIPT)
        self._use_calls_table(self.fetch_transcript)
        self._read_objects(self.fetch_transcript, profiles, results)
        self._put_objects(self.fetch_transcript, results)
        storage.api_key_secret.grant_read(self.fetch_transcript)

        self.run_analysis = self._function("RunAnalysis", Handler.RUN_ANALYSIS)
        self._use_calls_table(self.run_analysis)
        self._use_limits(self.run_analysis, RATE_KEYS, "dynamodb:UpdateItem")
        self._read_objects(self.run_analysis, profiles, results)
        self._put_objects(self.run_analysis, results)
        storage.api_key_secret.grant_read(self.run_analysis)

        self.finalize_call = self._function("FinalizeCall", Handler.FINALIZE_CALL)
        self._use_calls_table(self.finalize_call)
        self._read_objects(self.finalize_call, results)
        self._put_objects(self.finalize_call, results)
        self._publish(self.finalize_call)

        self.record_failure = self._function("RecordFailure", Handler.RECORD_FAILURE)
        self._use_calls_table(self.record_failure)
        self._use_limits(self.record_failure, SEMAPHORE_KEYS, "dynamodb:UpdateItem")  # release only
        self._publish(self.record_failure)

        # start_call's on-failure records and the executions that ended outside the Catch -> FAILED calls
        self.dead_letters = self._function("DeadLetters", Handler.DEAD_LETTERS, deferred_env=("STATE_MACHINE_ARN",))
        for queue in (notifications.start_call_dlq, notifications.workflow_dlq):
            self.dead_letters.add_event_source(event_sources.SqsEventSource(
                queue, batch_size=DEAD_LETTERS_BATCH_SIZE, report_batch_item_failures=True,
            ))  # grants ReceiveMessage/DeleteMessage/ChangeMessageVisibility/GetQueue* on that queue only
        self._use_calls_table(self.dead_letters)
        self._use_limits(self.dead_letters, SEMAPHORE_KEYS, "dynamodb:UpdateItem")  # release only
        self._publish(self.dead_letters)

        # the edge clients' LLM responses (live-insights topic -> queue) onto their call records
        self.store_live_insight = self._function("StoreLiveInsight", Handler.STORE_LIVE_INSIGHT)
        self.store_live_insight.add_event_source(event_sources.SqsEventSource(
            live.queue, batch_size=LIVE_BATCH_SIZE, report_batch_item_failures=True,
            max_batching_window=None if config.live_topic_fifo else Duration.seconds(0),
        ))
        self._use_calls_table(self.store_live_insight)

        self.await_transcript: lambda_.Function | None = None
        self.transcript_webhook: lambda_.Function | None = None
        self.webhook_url: lambda_.FunctionUrl | None = None
        if config.completion_webhook:
            self._add_completion_webhook()

    def _add_completion_webhook(self) -> None:
        """AssemblyAI's webhook -> function URL -> transcript_webhook -> SendTaskSuccess with the token that
        await_transcript stored for the transcript (limits table, CALLBACK#<transcript_id>). SendTaskSuccess is
        granted by the workflow (scoped to its state machine, outside these roles' default policies: no cycle)."""
        secret = self._storage.webhook_secret
        assert secret is not None
        self._env_values["WEBHOOK_SECRET_ARN"] = secret.secret_arn

        self.await_transcript = self._function("AwaitTranscript", Handler.AWAIT_TRANSCRIPT)
        self._use_limits(self.await_transcript, CALLBACK_KEYS, "dynamodb:UpdateItem")

        self.transcript_webhook = self._function("TranscriptWebhook", Handler.TRANSCRIPT_WEBHOOK,
                                                 reserved_concurrency=self._config.webhook_reserved_concurrency)
        self._use_limits(self.transcript_webhook, CALLBACK_KEYS, "dynamodb:UpdateItem")
        secret.grant_read(self.transcript_webhook)
        # Public URL on purpose (AssemblyAI cannot sign requests): the handler checks the shared secret header
        # (constant-time) and answers 401 otherwise; a valid call can only wake an execution that polls anyway.
        self.webhook_url = self.transcript_webhook.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)

        secret.grant_read(self.submit_transcription)
        self.submit_transcription.add_environment("WEBHOOK_URL", self.webhook_url.url)
        self.submit_transcription.add_environment("WEBHOOK_SECRET_ARN", secret.secret_arn)

    # ---- grants (each with the cdk-nag findings it causes, acknowledged on that role only) ----------
    def _read_objects(self, fn: lambda_.Function, *key_patterns: str) -> None:
        bucket = self._storage.bucket
        for pattern in key_patterns:
            bucket.grant_read(fn, pattern)
            _ack_iam5(fn, f"Resource::<{logical_id(bucket)}.Arn>/{pattern}",
                      f"Objects under the {pattern!r} key prefix of the recordings bucket only.")
        for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*"):
            _ack_iam5(fn, f"Action::{action}",
                      "grant_read's read-only action set (GetObjectVersion for versioned uploads, HeadObject), "
                      "limited to named key prefixes of one bucket.")

    def _put_objects(self, fn: lambda_.Function, *key_patterns: str) -> None:
        bucket = self._storage.bucket
        for pattern in key_patterns:
            bucket.grant_put(fn, pattern)
            _ack_iam5(fn, f"Resource::<{logical_id(bucket)}.Arn>/{pattern}",
                      f"Writes only under the {pattern!r} key prefix (results/<call_id>/...).")
        _ack_iam5(fn, "Action::s3:Abort*", "grant_put: abort its own multipart uploads (no delete rights).")

    def _use_calls_table(self, fn: lambda_.Function) -> None:
        table = self._storage.calls_table
        table.grant_read_write_data(fn)
        _ack_iam5(fn, f"Resource::<{logical_id(table)}.Arn>/index/*",
                  "Queries on this table's own GSIs (by_status); no other table.")

    def _use_limits(self, fn: lambda_.Function, key_pattern: str, *actions: str) -> None:
        """Only the named item actions on the limits table, only on items whose partition key matches
        (the semaphore or the LLM windows): no Scan/Query/Put/Delete, no other table."""
        fn.add_to_role_policy(iam.PolicyStatement(
            actions=list(actions),
            resources=[self._storage.limits_table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [key_pattern]}},
        ))

    def _publish(self, fn: lambda_.Function) -> None:
        self._topic.grant_publish(fn)
        _ack_iam5(fn, "Action::kms:GenerateDataKey*",
                  "Publishing to the KMS-encrypted topic needs GenerateDataKey on the topic key (that key only).")

    @property
    def all(self) -> dict[str, lambda_.Function]:
        return {
            Handler.START_CALL: self.start_call,
            Handler.SUBMIT_TRANSCRIPTION: self.submit_transcription,
            Handler.CHECK_TRANSCRIPT: self.check_transcript,
            Handler.FETCH_TRANSCRIPT: self.fetch_transcript,
            Handler.RUN_ANALYSIS: self.run_analysis,
            Handler.FINALIZE_CALL: self.finalize_call,
            Handler.RECORD_FAILURE: self.record_failure,
            Handler.DEAD_LETTERS: self.dead_letters,
            Handler.STORE_LIVE_INSIGHT: self.store_live_insight,
            **({Handler.AWAIT_TRANSCRIPT: self.await_transcript, Handler.TRANSCRIPT_WEBHOOK: self.transcript_webhook}
               if self.await_transcript is not None else {}),
        }

    def attach_state_machine(self, state_machine: sfn.IStateMachine) -> None:
        """start_call starts executions of this machine only; dead_letters may only ask whether one exists
        (DescribeExecution on this machine's executions). Wired after the workflow exists."""
        self.start_call.add_environment("STATE_MACHINE_ARN", state_machine.state_machine_arn)
        state_machine.grant_start_execution(self.start_call)
        self.dead_letters.add_environment("STATE_MACHINE_ARN", state_machine.state_machine_arn)
        state_machine.grant_execution(self.dead_letters, "states:DescribeExecution")
        machine_name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(state_machine)}"}}]}}]}}'
        _ack_iam5(self.dead_letters,
                  f"Resource::{nag_arn(Stack.of(self), 'states', f'execution:{machine_name}:*')}",
                  "grant_execution: DescribeExecution on the executions of this one state machine (execution names "
                  "are call ids, unknown in advance); no other states action.")

    def _function(
        self, construct_id: str, name: str, *, reserved_concurrency: int | None = None,
        deferred_env: tuple[str, ...] = (),
    ) -> lambda_.Function:
        config = self._config
        size = sizing(name, config)
        log_group = logs.LogGroup(
            self, f"{construct_id}Logs",
            retention=_RETENTION[config.log_retention_days],
            removal_policy=self._removal,
        )
        role = iam.Role(
            self, f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"call-analytics {name} (least privilege, grants only)",
        )
        log_group.grant_write(role)  # instead of the AWSLambdaBasicExecutionRole managed policy
        env = {key: self._env_values[key] for key in HANDLER_ENV[name] if key not in deferred_env}
        fn = lambda_.Function(
            self, construct_id,
            runtime=lambda_runtime(config.python_version),
            architecture=ARCHITECTURE,
            code=self._code,
            handler=handler_path(name),
            layers=[self._layer],
            role=role,
            timeout=size.timeout,
            memory_size=size.memory_mb,
            environment=env,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_app_log_level(config.log_level),
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            reserved_concurrent_executions=reserved_concurrency,
            description=f"call-analytics {name}",
        )
        acknowledge(fn, "AwsSolutions-L1",
                    "python3.12 is the runtime fixed by docs/architecture.md (the dependency layer is built for "
                    "it); moving to a newer runtime is a deliberate, tested change.")
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                    "Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) uses Resource '*': "
                    "those actions have no resource-level permissions. tests/infra asserts no data action does.")
        return fn


def _app_log_level(level: str) -> lambda_.ApplicationLogLevel:
    # Lambda's JSON log filter must let through what Powertools emits at POWERTOOLS_LOG_LEVEL
    return {"DEBUG": lambda_.ApplicationLogLevel.DEBUG, "INFO": lambda_.ApplicationLogLevel.INFO,
            "WARNING": lambda_.ApplicationLogLevel.WARN, "ERROR": lambda_.ApplicationLogLevel.ERROR}[level]


def _ack_iam5(fn: lambda_.Function, finding: str, reason: str) -> None:
    acknowledge(fn.role, f"AwsSolutions-IAM5[{finding}]", reason)  # type: ignore[arg-type]
