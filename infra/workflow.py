"""The STANDARD state machine of docs/architecture.md (JSONPath, plain Lambda ARN tasks), its log group, and the
rule that dead-letters executions ending outside the Catch path (timeout backstop, abort)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import StackConfig
from infra.functions import _RETENTION, Functions
from infra.nag import acknowledge, logical_id
from infra.names import Errors, State

#: Step Functions waits this much longer than the Lambda timeout before it gives up on a task
TASK_TIMEOUT_MARGIN = Duration.seconds(30)


def add_contract_retries(state: sfn.TaskStateBase | sfn.Map) -> None:
    """Retry policy of the contract: ThrottledError long backoff with full jitter; transient + Lambda errors;
    a Lambda timeout (each attempt costs a whole function timeout) a few times, with a longer backoff."""
    state.add_retry(errors=[Errors.THROTTLED], interval=Duration.seconds(5), backoff_rate=2, max_attempts=6,
                    jitter_strategy=sfn.JitterType.FULL)
    state.add_retry(errors=[Errors.TRANSIENT, *Errors.LAMBDA_SERVICE], interval=Duration.seconds(2),
                    backoff_rate=2, max_attempts=4)
    state.add_retry(errors=[*Errors.LAMBDA_TIMEOUT], interval=Duration.seconds(10), backoff_rate=2, max_attempts=2,
                    jitter_strategy=sfn.JitterType.FULL)


class Workflow(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, functions: Functions,
        workflow_dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY

        record_failure = self._task(State.RECORD_FAILURE, functions.record_failure, result_path="$.failure")
        # A fixed error name: the caught one may be a reserved `States.*` name, which a Fail state must not
        # raise (moto rejects it outright). The original error is on the call record and in the cause.
        failed = sfn.Fail(self, State.FAILED, comment="The call failed; RecordFailure stored and announced why",
                          error="CallFailed", cause_path="$.error.Cause")
        record_failure.next(failed)

        def guarded(task: sfn.TaskStateBase | sfn.Map) -> sfn.TaskStateBase | sfn.Map:
            task.add_catch(record_failure, errors=[Errors.ALL], result_path="$.error")
            return task

        # ---- transcription: a slot (DynamoDB semaphore), then submission; re-drives with a transcript skip it ----
        submit = guarded(self._task(State.SUBMIT, functions.submit_transcription, result_path="$.slot"))
        wait_for_slot = sfn.Wait(self, State.WAIT_FOR_SLOT,
                                 comment="No transcription slot free, or the submission failed (429/5xx: "
                                         "slot.outage): slot.wait_seconds (backoff + jitter, or Retry-After) from "
                                         "SubmitTranscription, which raises SlotWaitExceeded / OutageBudgetExhausted "
                                         "when a budget is spent",
                                 time=sfn.WaitTime.seconds_path("$.slot.wait_seconds"))
        transcript_submitted = sfn.Pass(self, State.TRANSCRIPT_SUBMITTED,
                                        comment="$.transcript_id = $.slot.transcript_id",
                                        input_path="$.slot.transcript_id", result_path="$.transcript_id")
        start_polling = sfn.Pass(
            self, State.START_POLLING, comment="The first wait is the expected processing time (audio duration)",
            parameters={"status": "queued", "wait_seconds": sfn.JsonPath.number_at("$.slot.wait_seconds"),
                        "polls": 0, "started_at": sfn.JsonPath.string_at("$.slot.submitted_at")},
            result_path="$.poll",
        )

        wait: sfn.Wait | tasks.LambdaInvoke
        if not config.completion_webhook:
            wait = sfn.Wait(self, State.WAIT, comment="poll.wait_seconds comes from StartPolling / CheckTranscript "
                                                      "(the poll schedule, or an outage wait: poll.outage)",
                            time=sfn.WaitTime.seconds_path("$.poll.wait_seconds"))
        check = guarded(self._task(State.CHECK, functions.check_transcript, result_path="$.poll"))
        if config.completion_webhook:
            wait = guarded(self._await_transcript(functions, check))
        fetch = guarded(self._task(State.FETCH, functions.fetch_transcript, result_path="$.transcript"))
        finalize = guarded(self._task(State.FINALIZE, functions.finalize_call, result_path="$.final"))

        # Defensive: check_transcript raises TranscriptionFailed on status `error`; should a status `error` ever
        # come back instead, it still ends in RecordFailure with a named error.
        transcript_errored = sfn.Pass(
            self, State.TRANSCRIPT_ERROR,
            result=sfn.Result.from_object({"Error": "TranscriptionFailed",
                                           "Cause": "AssemblyAI reported transcript status 'error'"}),
            result_path="$.error",
        ).next(record_failure)

        # ---- analyses: each Map item loops while no model has LLM quota (AnalysisBudgetExhausted ends it) ------
        run_analysis = self._task(State.RUN_ANALYSIS, functions.run_analysis, result_path=None)
        wait_for_quota = sfn.Wait(self, State.WAIT_FOR_LLM_QUOTA,
                                  comment="No LLM quota: wait_seconds from RunAnalysis (next window / Retry-After "
                                          "+ jitter), then run the analysis again",
                                  time=sfn.WaitTime.seconds_path("$.wait_seconds"))
        analysis_done = sfn.Succeed(self, State.ANALYSIS_DONE)
        wait_for_quota.next(run_analysis)
        run_analysis.next(
            sfn.Choice(self, State.ANALYSIS_THROTTLED)
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.status"),
                                     sfn.Condition.string_equals("$.status", "throttled")), wait_for_quota)
            # the gateway keeps failing (5xx, timeouts): the same wait, OutageBudgetExhausted ends it
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.status"),
                                     sfn.Condition.string_equals("$.status", "retry")), wait_for_quota)
            .otherwise(analysis_done)
        )
        run_analyses = sfn.Map(
            self, State.RUN_ANALYSES,
            items_path="$.transcript.analyses",
            item_selector={
                "call_id": sfn.JsonPath.string_at("$.call_id"),
                "profile": sfn.JsonPath.string_at("$.profile"),
                "analysis": sfn.JsonPath.string_at("$$.Map.Item.Value"),
            },
            max_concurrency=config.analysis_max_concurrency,
            result_path="$.analyses",
        )
        run_analyses.item_processor(run_analysis)
        guarded(run_analyses)

        no_analyses = sfn.Pass(self, State.NO_ANALYSES, comment="No speech: analyses skipped (reason stored)",
                               result=sfn.Result.from_array([]), result_path="$.analyses")

        has_speech = (
            sfn.Choice(self, State.HAS_SPEECH)
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.transcript.has_speech"),
                                     sfn.Condition.boolean_equals("$.transcript.has_speech", True)),
                  run_analyses.next(finalize))
            .otherwise(no_analyses.next(finalize))
        )
        wait_to_fetch = sfn.Wait(self, State.WAIT_TO_FETCH,
                                 comment="The API failed (429/5xx): transcript.wait_seconds (Retry-After or backoff) "
                                         "from FetchTranscript, which raises OutageBudgetExhausted when it is spent",
                                 time=sfn.WaitTime.seconds_path("$.transcript.wait_seconds"))
        fetch.next(
            sfn.Choice(self, State.FETCH_RETRY)
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.transcript.status"),
                                     sfn.Condition.string_equals("$.transcript.status", "retry")),
                  wait_to_fetch.next(fetch))
            .otherwise(has_speech)
        )
        ready = (
            sfn.Choice(self, State.READY)
            .when(sfn.Condition.string_equals("$.poll.status", "completed"), fetch)
            .when(sfn.Condition.string_equals("$.poll.status", "error"), transcript_errored)
            .otherwise(wait)
        )
        wait.next(check).next(ready)
        submit.next(
            sfn.Choice(self, State.SLOT_ACQUIRED)
            .when(sfn.Condition.boolean_equals("$.slot.acquired", True),
                  transcript_submitted.next(start_polling).next(wait))
            .otherwise(wait_for_slot.next(submit))
        )
        has_transcript_id = sfn.Condition.and_(sfn.Condition.is_present("$.transcript_id"),
                                               sfn.Condition.is_string("$.transcript_id"))
        definition = (
            sfn.Choice(self, State.HAS_TRANSCRIPT, comment="A re-drive brings its transcript: skip submission "
                                                           "(and polling when it is already completed)")
            .when(sfn.Condition.and_(has_transcript_id, sfn.Condition.is_present("$.poll.status"),
                                     sfn.Condition.string_equals("$.poll.status", "completed")), fetch)
            .when(has_transcript_id, wait)
            .otherwise(submit)
        )

        self.log_group = logs.LogGroup(
            self, "StateMachineLogs",
            retention=_RETENTION[config.log_retention_days],
            removal_policy=removal,
        )
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            comment="Call analytics: get a transcription slot, submit, poll the AssemblyAI transcript, fetch it, "
                    "run the profile's analyses within the LLM rate limit",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.seconds(config.execution_timeout),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        invoked = [functions.submit_transcription, functions.check_transcript, functions.fetch_transcript,
                   functions.run_analysis, functions.finalize_call, functions.record_failure]
        if functions.await_transcript is not None:
            invoked.append(functions.await_transcript)
            self._grant_task_success(functions)
        for fn in invoked:
            acknowledge(self.state_machine, f"AwsSolutions-IAM5[Resource::<{logical_id(fn)}.Arn>:*]",
                        "Generated by LambdaInvoke: lambda:InvokeFunction on the function and its versions/aliases "
                        "(the function is named, only the qualifier is a wildcard).")
        acknowledge(self.state_machine, "AwsSolutions-IAM5[Resource::*]",
                    "Only CloudWatch Logs vended-log delivery (logs:*LogDelivery*, logs:Describe*) and X-Ray "
                    "(xray:Put*, xray:GetSampling*): these actions have no resource-level permissions.")

        events.Rule(
            self, "ExecutionEndedUncaught",
            description="Executions that end FAILED/TIMED_OUT/ABORTED (timeouts never reach RecordFailure)",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [self.state_machine.state_machine_arn],
                        "status": ["FAILED", "TIMED_OUT", "ABORTED"]},
            ),
            targets=[targets.SqsQueue(workflow_dlq)],
        )

    def _await_transcript(self, functions: Functions, check: sfn.TaskStateBase) -> tasks.LambdaInvoke:
        """completion_webhook: the wait is a callback task. await_transcript stores the task token under the
        transcript id; the webhook handler (or await_transcript itself, when the webhook came first) sends
        SendTaskSuccess -> CheckTranscript confirms. No webhook within poll.wait_seconds -> States.Timeout ->
        CheckTranscript anyway: polling with the same backoff stays the backstop."""
        assert functions.await_transcript is not None
        task = tasks.LambdaInvoke(
            self, State.WAIT,
            comment="Until AssemblyAI's webhook wakes it (SendTaskSuccess) or poll.wait_seconds pass (States.Timeout "
                    "-> CheckTranscript, the polling backstop)",
            lambda_function=functions.await_transcript,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({
                "task_token": sfn.JsonPath.task_token,
                "call_id": sfn.JsonPath.string_at("$.call_id"),
                "transcript_id": sfn.JsonPath.string_at("$.transcript_id"),
            }),
            retry_on_service_exceptions=False,
            result_path="$.callback",
            task_timeout=sfn.Timeout.at("$.poll.wait_seconds"),
        )
        add_contract_retries(task)
        task.add_catch(check, errors=[Errors.TIMEOUT], result_path="$.callback")  # before guarded()'s States.ALL
        return task

    def _grant_task_success(self, functions: Functions) -> None:
        """states:SendTaskSuccess on this state machine only, for the two callback functions. A separate policy:
        in their roles' default policies it would make the functions depend on the state machine, which depends
        on them (URL -> submit_transcription env -> state machine)."""
        iam.Policy(
            self, "CompletionCallbackPolicy",
            statements=[iam.PolicyStatement(actions=["states:SendTaskSuccess"],
                                            resources=[self.state_machine.state_machine_arn])],
            roles=[functions.await_transcript.role, functions.transcript_webhook.role],  # type: ignore[union-attr]
        )

    def _task(self, state_id: str, fn: lambda_.Function, *, result_path: str | None) -> tasks.LambdaInvoke:
        """A plain-ARN Lambda task (payload_response_only), the whole state as input, the contract's retries."""
        task = tasks.LambdaInvoke(
            self, state_id,
            lambda_function=fn,
            payload_response_only=True,
            retry_on_service_exceptions=False,  # replaced by the contract's retry policy below
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(fn.timeout.plus(TASK_TIMEOUT_MARGIN)),
        )
        add_contract_retries(task)
        return task
