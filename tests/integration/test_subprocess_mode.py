"""The real stack in the Lambda mode `make demo` / `callctl up` use by default (a fresh interpreter per
invocation), and `python -m callctl` run as a user runs it: a separate process, against that stack or against
nothing. The in-process pipeline tests are in test_pipeline.py (its helpers are reused here)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_pipeline import (  # noqa: F401 (samples is a fixture)
    CALL,
    REPO_ROOT,
    assert_timeline_covers,
    call_record,
    running_stack,
    samples,
    stack_work_dir,
    upload,
    wait_terminal,
)

from local_aws.assemblyai import free_port
from local_aws.stack import LocalStack
from local_aws.waiting import wait_for

pytestmark = pytest.mark.slow

CALL_TIMEOUT = 300  # a Python start per invocation: slower than in-process
PIPELINE_HANDLERS = {"start_call", "submit_transcription", "check_transcript", "fetch_transcript", "run_analysis",
                     "finalize_call"}


@pytest.fixture(scope="module")
def sub_stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-subprocess"), "subprocess")


def invocations_by_handler(stack) -> dict[str, int]:
    names = {f["FunctionName"]: f["Handler"].split(".")[2]
             for f in stack.client("lambda").list_functions()["Functions"]
             if f["Handler"].startswith("call_analytics.handlers.")}
    counts = stack.aws.stats()["lambda"]["invocations"]
    return {handler: counts.get(name, 0) for name, handler in names.items()}


def test_two_speaker_call_completes_with_a_fresh_interpreter_per_invocation(sub_stack, samples):  # noqa: F811
    assert sub_stack.aws.stats()["lambda"]["mode"] == "subprocess"
    before = invocations_by_handler(sub_stack)
    call_id = upload(sub_stack, samples / CALL / "mono.wav", f"recordings/{CALL}.wav")
    meta = wait_terminal(sub_stack, call_id, timeout=CALL_TIMEOUT)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    history = [h["status"] for h in meta["history"]]
    assert history[0] == "RECEIVED" and history[-1] == "COMPLETED" and {"TRANSCRIBING", "ANALYZING"} <= set(history)
    assert_timeline_covers(call_record(sub_stack, call_id, "ANALYSIS#phases")["result"]["phases"],
                           float(meta["audio_duration"]))
    assert call_record(sub_stack, call_id, "ANALYSIS#sentiment")["result"]["answers"]
    assert call_record(sub_stack, call_id, "ANALYSIS#action_items")["result"]["action_items"]
    # the execution ends once finalize_call has returned (it writes COMPLETED before its invocation is counted)
    arn = f"{sub_stack.outputs['StateMachineArn'].replace(':stateMachine:', ':execution:')}:{call_id}"
    sfn = sub_stack.client("stepfunctions")
    execution = wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, 60,
                         interval=0.5, what="the execution to end")
    assert execution["status"] == "SUCCEEDED"
    after = invocations_by_handler(sub_stack)
    ran = {handler for handler, n in after.items() if n > before.get(handler, 0)}
    assert PIPELINE_HANDLERS <= ran, ran
    assert sub_stack.aws.wait_idle(60)
    assert sub_stack.aws.stats()["lambda"]["running_children"] == 0  # every invocation's interpreter exited


# ---- python -m callctl as a separate process ----------------------------------------------------------------
def callctl_env(tmp_path, **extra: str) -> dict[str, str]:
    """No AWS settings, credentials or callctl state from the machine; a wide console (no wrapped messages)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CALLCTL_"))}
    env.update({"CALLCTL_STATE": str(tmp_path / "no-state.json"), "AWS_CONFIG_FILE": str(tmp_path / "no-aws"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws"), "AWS_EC2_METADATA_DISABLED": "true",
                "COLUMNS": "250", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_callctl(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "callctl", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def _reaped_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("case", ["endpoint_closed", "state_closed", "state_stale", "no_state_local",
                                  "aws_no_credentials", "aws_no_region"])
def test_callctl_without_a_running_stack_exits_2_with_a_clear_message(case, tmp_path):
    port = free_port()  # nothing listens there
    closed = f"http://127.0.0.1:{port}"
    state = tmp_path / "state.json"
    env = callctl_env(tmp_path)
    args = ["calls"]
    if case == "endpoint_closed":
        env["CALLCTL_ENDPOINT_URL"] = closed
        expected = f"the local stack is not reachable at {closed}: start it with `python -m callctl up`"
    elif case in ("state_closed", "state_stale"):
        pid = os.getpid() if case == "state_closed" else _reaped_pid()
        state.write_text(json.dumps({"endpoint_url": closed, "region": "us-east-1", "stack_name": "CallAnalytics",
                                     "pid": pid}))
        env["CALLCTL_STATE"] = str(state)
        if case == "state_closed":  # `callctl up` still runs, its local AWS does not answer
            expected = f"the local stack is not reachable at {closed}"
        else:  # `callctl up` was killed and left its state file
            args = ["--local", "calls"]
            expected = (f"no local stack is running (the state file {state} is left from process {pid}, "
                        "which has exited)")
    elif case == "no_state_local":
        args = ["--local", "calls"]
        expected = "no local stack is running: start one with `python -m callctl up`"
    elif case == "aws_no_credentials":
        env["AWS_REGION"] = "eu-west-1"  # boto3 alone ignores AWS_REGION; callctl honours it
        expected = "no AWS credentials found: configure them (aws configure / AWS_PROFILE), or use the local stack"
    else:
        expected = "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION"
    code, output = run_callctl(env, *args)
    assert code == 2, output
    assert f"error: {expected}" in output, output
    assert "Traceback" not in output


def test_callctl_against_a_stack_that_is_not_deployed(sub_stack, tmp_path):
    env = callctl_env(tmp_path, CALLCTL_ENDPOINT_URL=sub_stack.endpoint_url)
    code, output = run_callctl(env, "--stack", "NotDeployed", "calls")
    assert code == 2, output
    assert (f"error: stack NotDeployed is not deployed in the local AWS at {sub_stack.endpoint_url} "
            "(`python -m callctl up` deploys it; or pass --stack NAME)") in output, output
    code, output = run_callctl({**env, "CALLCTL_STACK": sub_stack.stack_name}, "calls", "--limit", "1")
    assert code == 0 and "error" not in output, output  # the same endpoint with the deployed stack's name works


def test_callctl_watch_prints_the_notification_and_stops_after_count(sub_stack, samples, tmp_path):  # noqa: F811
    env = callctl_env(tmp_path, CALLCTL_ENDPOINT_URL=sub_stack.endpoint_url, CALLCTL_STACK=sub_stack.stack_name)
    command = [sys.executable, "-m", "callctl", "watch", "--count", "1", "--duration", str(CALL_TIMEOUT)]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("watching ") for line in output):  # the queue is subscribed from here on
            assert proc.poll() is None and time.monotonic() < deadline, output
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        key = "recordings/watched not audio.wav"
        call_id = upload(sub_stack, samples / "_errors" / "not_audio.txt", key)
        proc.wait(timeout=CALL_TIMEOUT + 30)  # exits by itself after one notification
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    while not lines.empty():
        output.append(lines.get())
    assert proc.returncode == 0, output
    [note] = [line for line in output if call_id in line]
    assert "FAILED" in note and key in note and "reason" in note, note  # status, call, recording, the error
    assert output[-1].strip() == "1 notification(s)", output
    assert call_record(sub_stack, call_id)["status"] == "FAILED"
    sqs = sub_stack.client("sqs")
    assert not sqs.list_queues(QueueNamePrefix="callctl-watch").get("QueueUrls")  # its queue was removed


def test_callctl_watch_exits_1_when_the_duration_ends_before_count(sub_stack, tmp_path):
    env = callctl_env(tmp_path, CALLCTL_ENDPOINT_URL=sub_stack.endpoint_url, CALLCTL_STACK=sub_stack.stack_name)
    started = time.monotonic()
    code, output = run_callctl(env, "watch", "--count", "1", "--duration", "1")
    assert code == 1, output
    assert output.endswith("0 notification(s)") and time.monotonic() - started < 60, output


class _Borrowed:
    """The module's stack, handed to `callctl demo` instead of a new one; demo's stop() leaves it running."""

    def __init__(self, stack: LocalStack):
        self._stack = stack

    def __getattr__(self, name: str):
        return getattr(self._stack, name)

    def stop(self) -> None:
        pass


def test_demo_exits_1_when_a_call_fails(sub_stack, samples, tmp_path, monkeypatch, capsys):  # noqa: F811
    """`callctl demo FILE` on the running stack (the stack start is what it would add; tested above): the
    non-audio recording FAILS, so the demo's exit code is 1."""
    import callctl.local
    from callctl.cli import main

    monkeypatch.setattr(callctl.local, "start_stack", lambda console, options: _Borrowed(sub_stack))
    monkeypatch.setenv("COLUMNS", "200")
    recording = tmp_path / "demo not audio.wav"
    shutil.copyfile(samples / "_errors" / "not_audio.txt", recording)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["demo", "--timeout", str(CALL_TIMEOUT), str(recording)])
    finally:
        signal.signal(signal.SIGTERM, previous)  # demo installs its own handler
    output = capsys.readouterr().out
    assert code == 1, output
    assert "0/1 calls COMPLETED, 1 notification(s)" in output, output
    assert "FAILED" in output and "recordings/demo not audio.wav" in output
