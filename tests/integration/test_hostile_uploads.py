"""Issue 10 on the local stack, one test per case: zero-byte uploads (2), an upstream that echoes the API key (3),
suffix case and file types uploaded straight to S3 (6), a call whose every analysis is invalid (7), and
`callctl redrive --failed` with hopeless inputs (8). The real template, the real handlers (in-process Lambda mode),
the local AssemblyAI server with its fault injector (tests/integration/test_pipeline.py has the helpers)."""

from __future__ import annotations

import json
import subprocess

import pytest
from test_pipeline import (  # noqa: F401 (samples is a fixture)
    CALL,
    call_record,
    running_stack,
    samples,
    stack_work_dir,
    upload,
)

from callctl.subscription import TopicSubscription
from local_aws.waiting import wait_for

pytestmark = pytest.mark.slow

FINISHED = ("COMPLETED", "PARTIAL", "FAILED")
CALL_TIMEOUT = 180


@pytest.fixture(scope="module")
def stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-hostile"), "inprocess")


@pytest.fixture
def notifications(stack):
    topic = stack.outputs["ResultsTopicArn"]
    with TopicSubscription(stack.client("sns"), stack.client("sqs"), topic, "hostile") as sub:
        yield sub


@pytest.fixture(scope="module")
def short_call(samples, tmp_path_factory):  # noqa: F811
    """The first 11 s of the two-speaker sample (quick analyses), as WAV and as AIFF."""
    out = tmp_path_factory.mktemp("short")
    wav, aiff = out / "short.wav", out / "short.aiff"
    for target in (wav, aiff):
        subprocess.run(["sox", str(samples / CALL / "mono.wav"), str(target), "trim", "0", "11"], check=True,
                       timeout=60)
    return {"wav": wav, "aiff": aiff}


def wait_finished(stack, call_id: str, timeout: float = CALL_TIMEOUT) -> dict:
    return wait_for(lambda: (r := call_record(stack, call_id)) and r.get("status") in FINISHED and r, timeout,
                    interval=0.5, what=f"call {call_id} to finish")


def note_for(notifications, call_id: str):
    received = notifications.collect(lambda got: any(n.call_id == call_id for n in got), 60)
    return next(n for n in received if n.call_id == call_id)


def cli_env(stack, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CALLCTL_ENDPOINT_URL", stack.endpoint_url)
    monkeypatch.setenv("CALLCTL_STACK", stack.stack_name)
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "no-state.json"))
    monkeypatch.setenv("COLUMNS", "250")


# ---- (2) ---------------------------------------------------------------------------------------------------------
def test_zero_byte_upload_fails_with_its_reason_is_announced_and_callctl_shows_it(
        stack, notifications, monkeypatch, tmp_path, capsys):
    from callctl.cli import main

    call_id = upload(stack, None, "recordings/empty upload.wav", body=b"")
    meta = wait_finished(stack, call_id)  # before: no record ever appeared
    assert meta["status"] == "FAILED" and meta["failure_error"] == "InvalidRecording"
    assert "empty (0 bytes)" in meta["failure_reason"]
    note = note_for(notifications, call_id)
    assert note.status == "FAILED" and "empty" in note.message["error"]["reason"]
    cli_env(stack, monkeypatch, tmp_path)
    capsys.readouterr()
    assert main(["show", call_id]) == 0  # before: "no call ..." for the id `callctl upload` printed
    shown = capsys.readouterr().out
    assert call_id in shown and "empty (0 bytes)" in shown


# ---- (3) ---------------------------------------------------------------------------------------------------------
def test_an_api_key_echoed_by_the_upstream_is_stored_published_and_logged_nowhere(stack, short_call, notifications):
    key = stack.assemblyai.api_key
    echo = f"Download failed: request with Authorization: {key} (api_key={key}) was refused for key {key}"
    stack.assemblyai.set_faults([{"group": "jobs", "action": "job_error", "next_n": 1, "message": echo}])
    try:
        call_id = upload(stack, short_call["wav"], "recordings/echoing upstream.wav")
        meta = wait_finished(stack, call_id)
    finally:
        stack.assemblyai.clear_faults()
    assert meta["status"] == "FAILED" and meta["failure_error"] == "TranscriptionFailed"
    assert "Download failed" in meta["failure_reason"] and "[REDACTED]" in meta["failure_reason"]
    note = note_for(notifications, call_id)
    sfn = stack.client("stepfunctions")
    execution_arn = meta["execution_arn"]
    execution = sfn.describe_execution(executionArn=execution_arn)
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    failed_tasks = [e for e in history if "Failed" in e["type"]]
    assert failed_tasks, [e["type"] for e in history]  # the Lambda error Step Functions recorded
    assert any("Download failed" in json.dumps(e, default=str) for e in failed_tasks)
    stack.aws.wait_idle(60)
    logs = "".join(p.read_text(errors="replace") for p in (stack.aws.log_path, stack.aws.lambda_log_path)
                   if p.exists())
    assert "Download failed" in logs  # the failure was logged ...
    for where, text in (("record", json.dumps(meta, default=str)), ("notification", json.dumps(note.message)),
                        ("execution", json.dumps(execution, default=str)),
                        ("execution history", json.dumps(history, default=str)), ("logs", logs)):
        assert key not in text, where  # ... and nothing anywhere carries the key


# ---- (6) ---------------------------------------------------------------------------------------------------------
def test_mixed_case_suffixes_and_aiff_start_calls_and_other_types_fail_with_a_reason(
        stack, short_call, notifications):
    body = short_call["wav"].read_bytes()
    started = {key: upload(stack, short_call["wav"], key, body)
               for key in ("recordings/Case Variant.Wav", "recordings/loud.WAV")}
    started["recordings/studio take.aiff"] = upload(stack, short_call["aiff"], "recordings/studio take.aiff")
    refused = upload(stack, None, "recordings/meeting notes.txt", body=b"agenda: pricing")
    for key, call_id in started.items():  # before: no record, no execution, no notification for these
        meta = wait_finished(stack, call_id)
        invalid = {a: (call_record(stack, call_id, f"ANALYSIS#{a}") or {}).get("errors")
                   for a in meta.get("invalid_analyses") or []}
        assert meta["status"] == "COMPLETED", (key, meta.get("failure_reason"), invalid)
    meta = wait_finished(stack, refused)  # before: skipped in silence
    assert meta["status"] == "FAILED" and "unsupported file type '.txt'" in meta["failure_reason"]
    assert note_for(notifications, refused).status == "FAILED"


def test_callctl_upload_accepts_any_case_and_refuses_other_types_before_uploading(stack, short_call, tmp_path):
    from rich.console import Console

    from callctl import commands
    from callctl.local import target_of
    from callctl.target import CallctlError

    target, console = target_of(stack), Console(record=True, width=200)
    layout = commands.upload_layout(target)
    assert {".wav", ".aiff", ".mp3"} <= set(layout.suffixes)
    notes = tmp_path / "notes.TXT"
    notes.write_text("not a recording")
    with pytest.raises(CallctlError, match=r"notes\.TXT: not a recording file type"):
        commands.upload(target, console, [notes], profile=None)
    recording = tmp_path / "Upper Case.MP3"
    recording.write_bytes(short_call["wav"].read_bytes())  # the content does not matter to the check
    [row] = commands.upload(target, console, [recording], profile=None)
    assert row["key"] == "recordings/Upper Case.MP3"
    assert wait_finished(stack, row["call_id"])["status"] in FINISHED  # it started a call


# ---- (7) ---------------------------------------------------------------------------------------------------------
def test_a_call_whose_every_analysis_is_garbage_is_partial_not_completed(stack, short_call, notifications):
    stack.assemblyai.set_faults([{"group": "llm", "action": "garbage"}])  # every LLM answer: non-JSON text
    try:
        call_id = upload(stack, short_call["wav"], "recordings/garbage answers.wav")
        meta = wait_finished(stack, call_id)
    finally:
        stack.assemblyai.clear_faults()
    assert meta["status"] == "PARTIAL", meta.get("failure_reason")  # before: COMPLETED
    assert meta["analyses_valid"] == "none" and meta["analyses_valid_count"] == 0 and meta["analyses_total"] >= 1
    note = note_for(notifications, call_id)
    assert note.status == "PARTIAL" and note.message["analyses_valid"] == "none"
    assert note.message["digest"]["invalid_analyses"]


# ---- (8) ---------------------------------------------------------------------------------------------------------
def test_redrive_failed_skips_hopeless_inputs_unless_forced_and_keeps_stderr_clean(
        stack, samples, monkeypatch, tmp_path, capfd):  # noqa: F811
    from callctl.cli import main

    not_audio = upload(stack, samples / "_errors" / "not_audio.txt", "recordings/not audio at all.wav")
    empty = upload(stack, None, "recordings/empty again.wav", body=b"")
    for call_id in (not_audio, empty):
        assert wait_finished(stack, call_id)["status"] == "FAILED"
    assert "does not appear to contain audio" in call_record(stack, not_audio)["failure_reason"]
    cli_env(stack, monkeypatch, tmp_path)
    capfd.readouterr()
    assert main(["redrive", "--failed"]) == 0
    out, err = capfd.readouterr()
    flat = " ".join(out.split())
    for call_id in (not_audio, empty):
        assert f"skipped {call_id}: failed for good" in flat, out
        assert call_record(stack, call_id)["status"] == "FAILED"  # not re-driven
    assert "--force re-drives them anyway" in flat
    stray = [line for line in (out + err).splitlines() if line.lstrip().startswith("{")]
    assert not stray, stray  # no JSON log lines of the package's logger (before: one per re-driven call)
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=stack.outputs["StateMachineArn"])
    names = {e["name"] for e in executions["executions"]}
    assert not {f"{not_audio}-r1", f"{empty}-r1"} & names
    # forced: the not-audio call is transcribed again (and fails again, with the same reason)
    assert main(["redrive", not_audio, "--force"]) == 0
    out, err = capfd.readouterr()
    assert f"started {not_audio}" in " ".join(out.split()) and not err.strip()
    assert not [line for line in out.splitlines() if line.lstrip().startswith("{")], out  # "call re-driven" stays quiet
    final = wait_for(lambda: (r := call_record(stack, not_audio)) and r.get("redrives") == 1
                     and r.get("status") == "FAILED" and r, CALL_TIMEOUT, interval=0.5, what="the forced re-drive")
    assert "does not appear to contain audio" in final["failure_reason"]
