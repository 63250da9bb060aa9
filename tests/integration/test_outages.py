"""Issue 10 items 1, 4 and 5 on the local stack (the real template, in-process Lambdas, waits scaled by 0.05, the
session's local AssemblyAI server and its fault injector, docs/local-assemblyai.md):

1. five uploads whose WAV header lies about the byte rate do not hold the transcription slots for an hour;
4. an outage of 429 with Retry-After on the submission, 5xx on the poll/fetch of a finished transcript and 5xx
   from the LLM Gateway, each longer than the old Step Functions retries lasted, is ridden out: the call completes;
5. a poll that takes 20 s succeeds on its first attempt.
"""

from __future__ import annotations

import json
import struct
import time

import pytest
from test_pipeline import CALL, CALL_TIMEOUT, call_record, running_stack, stack_work_dir, upload, wait_terminal

from local_aws.waiting import wait_for

pytestmark = pytest.mark.slow

#: seconds (real time) each fault phase lasts: longer than the old Retry policies survived at this wait scale
#: (ThrottledError: 5+10+...+160 s x 0.05 < 16 s; TransientError: 2+4+8+16 s x 0.05 plus the in-Lambda retries)
OUTAGE_PHASE_SECONDS = 30


@pytest.fixture(scope="module")
def samples():
    import subprocess
    import sys

    from test_pipeline import REPO_ROOT, SAMPLES

    subprocess.run([sys.executable, "-m", "samples.generate", "--out", str(SAMPLES), "--call", CALL],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
    return SAMPLES


@pytest.fixture(scope="module")
def stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-outages"), "inprocess")


@pytest.fixture(scope="module")
def sub_stack(aai_server, tmp_path_factory):
    """Subprocess Lambda mode: six calls run at once, and in-process mode shares module globals (Powertools'
    metrics buffer) between concurrent invocations, which Lambda never does."""
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-outages-subprocess"),
                             "subprocess")


@pytest.fixture
def faults(stack):
    yield stack.assemblyai
    stack.assemblyai.clear_faults()


def lying_header(wav: bytes) -> bytes:
    """The byte-rate field (offset 28) says 1 byte per second: the duration estimate becomes weeks."""
    return wav[:28] + struct.pack("<I", 1) + wav[32:]


def execution_events(stack, call_id: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    [execution] = [e for e in sfn.list_executions(stateMachineArn=stack.outputs["StateMachineArn"])["executions"]
                   if e["name"] == call_id]
    return sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]


def test_lying_wav_headers_do_not_starve_a_normal_call(sub_stack, samples):
    """Issue 10 item 1: five lying headers fill the five transcription slots; the first poll still comes
    POLL_INITIAL_SECONDS after submitting, so the slots are given back and a normal call completes."""
    stack = sub_stack
    assert stack.aws.wait_idle(120)
    wav = (samples / CALL / "mono.wav").read_bytes()
    liars = [upload(stack, samples / CALL / "mono.wav", f"recordings/lying-header-{n}.wav", lying_header(wav))
             for n in range(5)]
    normal = upload(stack, samples / CALL / "mono.wav", "recordings/after-the-liars.wav")
    # the normal call completes (a loaded 2-core machine transcribes six calls in turn: a generous bound)
    try:
        assert wait_terminal(stack, normal, 2 * CALL_TIMEOUT)["status"] == "COMPLETED"
    except TimeoutError:
        states = {c: (r or {}).get("status") for c in [*liars, normal] for r in [call_record(stack, c)]}
        raise AssertionError(f"calls not finished: {states}; AssemblyAI: {stack.assemblyai.stats()['jobs']}") from None
    for call_id in liars:
        meta = wait_terminal(stack, call_id, CALL_TIMEOUT)
        assert meta["status"] == "COMPLETED", meta.get("failure_reason")
        assert meta["estimated_duration"] > 24 * 3600  # the header did lie ...
        assert abs(float(meta["audio_duration"]) - 37.7) < 1  # ... the audio is 38 s
        # ... and the first poll waited POLL_INITIAL_SECONDS (5), not the estimate x POLL_EXPECTED_RTF
        first = next(json.loads(e["stateEnteredEventDetails"]["input"])["poll"]
                     for e in execution_events(stack, call_id) if e["type"] == "WaitStateEntered"
                     and e["stateEnteredEventDetails"]["name"] == "WaitForTranscript")
        assert first["polls"] == 0 and first["wait_seconds"] == 5


def test_a_call_rides_out_429_and_5xx_outages_on_every_endpoint(stack, samples, faults):
    """Issue 10 item 4: each phase lasts longer than the old retries did; the call completes, the waits honoured
    Retry-After (WaitForSlot waited >= 60 s while the submission got 429 + Retry-After 60)."""
    assert stack.aws.wait_idle(120)
    before = faults.stats()["faults_injected"]
    # phase 1: the submission is rate limited (Retry-After 60 > the 20 s the client sleeps itself); the LLM is down
    faults.set_faults([
        {"group": "transcript", "action": "429", "retry_after": 60, "method": "POST"},
        {"group": "llm", "action": "5xx", "status": 503},
    ])
    call_id = upload(stack, samples / CALL / "mono.wav", "recordings/through-the-outage.wav")
    time.sleep(OUTAGE_PHASE_SECONDS)
    assert call_record(stack, call_id)["status"] not in ("FAILED", "COMPLETED")
    # phase 2: submissions pass; every GET /v2/transcript/... (poll, fetch, VTT) answers 503, also once it is done
    faults.set_faults([
        {"group": "transcript", "action": "5xx", "status": 503, "method": "GET"},
        {"group": "llm", "action": "5xx", "status": 503},
    ])
    wait_for(lambda: call_record(stack, call_id).get("transcript_id"), 60, what="the submission")
    time.sleep(OUTAGE_PHASE_SECONDS)
    assert call_record(stack, call_id)["status"] not in ("FAILED", "COMPLETED")
    # phase 3: AssemblyAI is back, the LLM Gateway still answers 503
    faults.set_faults([{"group": "llm", "action": "5xx", "status": 503}])
    wait_for(lambda: call_record(stack, call_id)["status"] in ("ANALYZING", "FAILED"), 90, what="the analyses")
    time.sleep(OUTAGE_PHASE_SECONDS)
    faults.clear_faults()

    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    injected = faults.stats()["faults_injected"]
    for fault in ("transcript:429", "transcript:5xx", "llm:5xx"):
        assert injected.get(fault, 0) > before.get(fault, 0), (fault, injected)
    # the submission's outage waits were Retry-After (60 s, + up to 20 % jitter), in the WaitForSlot Wait state
    waits = [json.loads(e["stateEnteredEventDetails"]["input"])["slot"]
             for e in execution_events(stack, call_id)
             if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForSlot"]
    outage_waits = [w for w in waits if w.get("outage")]
    assert outage_waits and all(60 <= w["wait_seconds"] <= 72 for w in outage_waits), waits
    assert {w["outage"]["error"] for w in outage_waits} == {"ThrottledError"}


def test_a_slow_20s_poll_succeeds_on_its_first_attempt(stack, samples, faults):
    """Issue 10 item 5: CheckTranscript's Lambda timeout leaves the client its configured 30 s read timeout (it
    used to get 20 s), so a poll that takes 20 s answers instead of timing out and being retried."""
    assert stack.aws.wait_idle(120)
    route = "GET /v2/transcript/{transcript_id}"
    before = faults.stats()["requests"].get(route, 0)
    faults.set_faults([{"group": "transcript", "action": "latency", "latency_ms": 20_000, "next_n": 1,
                        "method": "GET", "path_contains": "/v2/transcript/"}])
    call_id = upload(stack, samples / CALL / "mono.wav", "recordings/slow-poll.wav")
    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    stats = faults.stats()
    assert stats["faults_injected"].get("transcript:latency", 0) >= 1
    # one GET per poll plus FetchTranscript's: the slow poll was not timed out and sent again
    assert stats["requests"].get(route, 0) - before == int(meta["polls"]) + 1
    events = execution_events(stack, call_id)
    # no task failed, timed out or answered an outage wait: the slow poll was simply answered
    assert not [e["type"] for e in events if "Failed" in e["type"] or "TimedOut" in e["type"]]
    polls = [json.loads(e["stateExitedEventDetails"]["output"])["poll"] for e in events
             if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "CheckTranscript"]
    assert polls and not any(p.get("outage") for p in polls)


# ---- the budget: only then FAIL, with the reason; a re-drive reuses the transcript -------------------------------
@pytest.fixture(scope="module")
def short_budget_stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack-short-outage-budget"),
                             "inprocess", context={"outage_budget_seconds": 60})


def test_an_outage_past_the_budget_fails_with_the_reason_and_a_redrive_reuses_the_transcript(
        short_budget_stack, samples, monkeypatch, tmp_path):
    from callctl.cli import main

    stack = short_budget_stack
    assert stack.aws.wait_idle(120)
    faults = stack.assemblyai
    route = "POST /v2/transcript"
    try:
        # GIVEN every poll answering 503 (the submission goes through), and a 60 s outage budget
        faults.set_faults([{"group": "transcript", "action": "5xx", "status": 503, "method": "GET",
                            "path_contains": "/v2/transcript/"}])
        call_id = upload(stack, samples / CALL / "mono.wav", "recordings/past-the-budget.wav")
        meta = wait_terminal(stack, call_id)
        # THEN the call FAILED with the step, the budget and the last error, and holds no transcription slot
        assert meta["status"] == "FAILED" and meta["failure_error"] == "OutageBudgetExhausted"
        assert "CheckTranscript" in meta["failure_reason"] and "OUTAGE_BUDGET_SECONDS=60" in meta["failure_reason"]
        assert "HTTP 503" in meta["failure_reason"]
    finally:
        faults.clear_faults()
    posts = faults.stats()["requests"].get(route, 0)
    # WHEN it is re-driven after the outage
    monkeypatch.setenv("CALLCTL_ENDPOINT_URL", stack.endpoint_url)
    monkeypatch.setenv("CALLCTL_STACK", stack.stack_name)
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "no-state.json"))
    assert main(["redrive", call_id]) == 0
    final = wait_for(lambda: (r := call_record(stack, call_id)) and r.get("redrives") == 1
                     and r.get("status") in ("COMPLETED", "FAILED") and r, CALL_TIMEOUT, interval=0.5,
                     what="the re-drive")
    # THEN it completes on the transcript AssemblyAI already made: nothing is submitted (or paid) twice
    assert final["status"] == "COMPLETED", final.get("failure_reason")
    assert faults.stats()["requests"].get(route, 0) == posts
