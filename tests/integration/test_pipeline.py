"""The real pipeline end to end on the local stack: the CDK app synthesized and deployed into the local AWS, the
real handlers (in-process Lambda mode for speed, waits scaled by 0.05), the local AssemblyAI server (offline
engines; the session `aai_server` of tests/conftest.py). Subprocess Lambda mode (the default of `make demo`): the
real stack in test_subprocess_mode.py, the generic local AWS in test_local_aws.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callctl.subscription import TopicSubscription
from local_aws.assemblyai import AssemblyAiServer
from local_aws.stack import LocalStack, LocalStackOptions
from local_aws.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / ".cache" / "samples"
CALL = "fabrikam_billing_question"  # two speakers, 38 s
TERMINAL = ("COMPLETED", "PARTIAL", "FAILED")
CALL_TIMEOUT = 180

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def samples() -> Path:
    subprocess.run([sys.executable, "-m", "samples.generate", "--out", str(SAMPLES), "--call", CALL],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
    return SAMPLES


def stack_work_dir(tmp_path_factory, name: str) -> Path:
    """A fresh work dir whose synth cache (cdk.out) is shared by the session: stacks with the same context (the
    session AssemblyAI server, any Lambda mode) synthesize once."""
    work = tmp_path_factory.mktemp(name)
    shared = tmp_path_factory.getbasetemp() / "shared-cdk.out"
    shared.mkdir(exist_ok=True)
    (work / "cdk.out").symlink_to(shared, target_is_directory=True)
    return work


def running_stack(aai_server, work_dir: Path, lambda_mode: str, context: dict | None = None):
    """A module fixture's body: the real template in the local AWS against the session's AssemblyAI server."""
    server = AssemblyAiServer(aai_server.base_url, aai_server.api_key)  # started/stopped by the session fixture
    local = LocalStack(LocalStackOptions(work_dir=work_dir, lambda_mode=lambda_mode, wait_scale=0.05,
                                         assemblyai=server, real_api_key=None, write_state=False,
                                         context=context or {}))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def stack(aai_server, tmp_path_factory):
    yield from running_stack(aai_server, stack_work_dir(tmp_path_factory, "local-stack"), "inprocess")


@pytest.fixture
def notifications(stack):
    with TopicSubscription(stack.client("sns"), stack.client("sqs"), stack.outputs["ResultsTopicArn"], "it") as sub:
        yield sub


def aai_stats(stack) -> dict:
    return stack.assemblyai.stats()


def upload(stack, path: Path, key: str, body: bytes | None = None, profile: str | None = None) -> str:
    """Upload and return the call id (as start_call derives it)."""
    from callctl.target import use_functions_package

    use_functions_package()
    from call_analytics.recordings import call_id_for

    s3, bucket = stack.client("s3"), stack.outputs["RecordingsBucketName"]
    extra = {"Metadata": {"profile": profile}} if profile else {}
    put = s3.put_object(Bucket=bucket, Key=key, Body=body if body is not None else path.read_bytes(), **extra)
    return call_id_for(bucket, key, put.get("VersionId"), put["ETag"])


def call_record(stack, call_id: str, sk: str = "META") -> dict | None:
    from boto3.dynamodb.types import TypeDeserializer

    item = stack.client("dynamodb").get_item(TableName=stack.outputs["CallsTableName"], ConsistentRead=True,
                                             Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": sk}}).get("Item")
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()} if item else None


def wait_terminal(stack, call_id: str, timeout: float = CALL_TIMEOUT) -> dict:
    return wait_for(lambda: (r := call_record(stack, call_id)) and r.get("status") in TERMINAL and r, timeout,
                    interval=0.5, what=f"call {call_id} to finish")


def assert_timeline_covers(phases: list[dict], duration: float) -> None:
    """The validator's contract (analyses/phases.py): ordered, gap-free (gaps become Other), no overlap, from 0
    to the audio duration; times are stored rounded to 0.01 s."""
    bounds = [(float(p["start_time"]), float(p["end_time"])) for p in phases]
    assert bounds, "no phases"
    assert bounds[0][0] == pytest.approx(0, abs=1e-9), bounds
    assert bounds[-1][1] == pytest.approx(round(duration, 2), abs=1e-9), (bounds, duration)
    for (_, previous_end), (start, _) in zip(bounds, bounds[1:], strict=False):
        assert start == pytest.approx(previous_end, abs=1e-9), bounds  # each phase starts where the last ended
    assert all(end > start for start, end in bounds), bounds


def test_two_speaker_call_completes_with_ordered_phases_answers_actions_and_a_notification(
        stack, samples, notifications):
    call_id = upload(stack, samples / CALL / "mono.wav", f"recordings/{CALL}.wav")
    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    history = [h["status"] for h in meta["history"]]
    lifecycle = ["RECEIVED", "QUEUED", "TRANSCRIBING", "ANALYZING", "COMPLETED"]
    assert history == sorted(history, key=lifecycle.index) and history[-1] == "COMPLETED"
    assert {"TRANSCRIBING", "ANALYZING"} <= set(history)
    duration = float(meta["audio_duration"])
    truth_duration = json.loads((samples / CALL / "truth.json").read_text())["duration"]
    assert abs(duration - truth_duration) < 1.0

    phases = call_record(stack, call_id, "ANALYSIS#phases")["result"]["phases"]
    assert_timeline_covers(phases, duration)
    assert all(p["summary"] for p in phases)

    answers = call_record(stack, call_id, "ANALYSIS#sentiment")["result"]["answers"]
    assert answers and all(a["answer"] and a["quote"] for a in answers)
    assert any(a["quote_found"] for a in answers)
    assert call_record(stack, call_id, "ANALYSIS#action_items")["result"]["action_items"]

    received = notifications.collect(lambda got: any(n.call_id == call_id for n in got), 60)
    note = next(n for n in received if n.call_id == call_id)
    assert note.status == "COMPLETED"
    assert note.message["digest"]["phases"] == [p["name"] for p in phases]


def test_upload_returns_before_the_pipeline_ends(stack, samples):
    """S3 invokes start_call asynchronously: the PUT returns at once; the call finishes later, on its own."""
    body = (samples / CALL / "mono.wav").read_bytes()
    started = time.monotonic()
    call_id = upload(stack, samples / CALL / "mono.wav", "recordings/non-blocking.wav", body)
    put_seconds = time.monotonic() - started
    right_after = call_record(stack, call_id)
    assert right_after is None or right_after["status"] not in TERMINAL, right_after  # nothing finished yet
    meta = wait_terminal(stack, call_id)
    total_seconds = time.monotonic() - started
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    assert put_seconds < total_seconds / 3, (put_seconds, total_seconds)  # the call took far longer than the PUT
    assert [h["status"] for h in meta["history"]][-1] == "COMPLETED"


def test_non_audio_upload_fails_with_reason_and_notification(stack, samples, notifications):
    call_id = upload(stack, samples / "_errors" / "not_audio.txt", "recordings/not really audio.wav")
    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "FAILED"
    assert meta["failure_reason"]
    received = notifications.collect(lambda got: any(n.call_id == call_id for n in got), 60)
    note = next(n for n in received if n.call_id == call_id)
    assert note.status == "FAILED" and note.message["error"]["reason"]


def test_key_with_spaces_and_unicode(stack, samples):
    key = "recordings/Kundengespräch mit Zoë & Ünal (2).wav"
    call_id = upload(stack, samples / CALL / "mono.wav", key)
    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    assert meta["recording_key"] == key


def test_duplicated_event_gives_one_transcription(stack, samples):
    assert stack.aws.wait_idle(120)
    before = aai_stats(stack)["requests"].get("POST /v2/transcript", 0)
    key = "recordings/duplicate delivery.wav"
    call_id = upload(stack, samples / CALL / "mono.wav", key)
    assert wait_terminal(stack, call_id)["status"] == "COMPLETED"
    head = stack.client("s3").head_object(Bucket=stack.outputs["RecordingsBucketName"], Key=key)
    event = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:TEST"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "TEST", "x-amz-id-2": "TEST"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "test",
               "bucket": {"name": stack.outputs["RecordingsBucketName"], "ownerIdentity": {"principalId": "T"},
                          "arn": f"arn:aws:s3:::{stack.outputs['RecordingsBucketName']}"},
               "object": {"key": "recordings/duplicate+delivery.wav", "size": head["ContentLength"],
                          "eTag": head["ETag"].strip('"'), "versionId": head["VersionId"], "sequencer": "0A"}}}]}
    lam = stack.client("lambda")
    for _ in range(2):  # S3 delivers at least once: the same event again, twice
        response = lam.invoke(FunctionName=stack.outputs["StartCallFunctionName"], Payload=json.dumps(event))
        assert "FunctionError" not in response, response["Payload"].read()
    assert aai_stats(stack)["requests"].get("POST /v2/transcript", 0) - before == 1
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=stack.outputs["StateMachineArn"])
    assert [e["name"] for e in executions["executions"]].count(call_id) == 1
    assert call_record(stack, call_id)["status"] == "COMPLETED"


def test_assemblyai_429_and_5xx_storm_still_completes(stack, samples):
    # rules see every matching request, so each one gets its own requests: submissions get 429s, polls 503s
    rules = [{"group": "transcript", "action": "429", "method": "POST", "next_n": 2, "retry_after": 1},
             {"group": "transcript", "action": "5xx", "method": "GET", "status": 503, "next_n": 2},
             {"group": "llm", "action": "429", "next_n": 2, "retry_after": 1}]
    stack.assemblyai.set_faults(rules)
    try:
        before = aai_stats(stack)["faults_injected"]
        call_id = upload(stack, samples / CALL / "mono.wav", "recordings/storm.wav")
        meta = wait_terminal(stack, call_id)
        injected = aai_stats(stack)["faults_injected"]
    finally:
        stack.assemblyai.clear_faults()
    assert meta["status"] == "COMPLETED", meta.get("failure_reason")
    fired = {k: injected[k] - before.get(k, 0) for k in injected if injected[k] > before.get(k, 0)}
    assert len(fired) == 3 and sum(fired.values()) == 6, fired  # every rule fired, each twice
    assert not call_record(stack, call_id).get("invalid_analyses")


def test_twenty_uploads_at_once_all_complete(stack, samples, tmp_path):
    short = tmp_path / "short.wav"  # the first 11 s: both speakers, quick analyses
    subprocess.run(["sox", str(samples / CALL / "mono.wav"), str(short), "trim", "0", "11"], check=True, timeout=60)
    body = short.read_bytes()
    # The offline LLM analyzers are the bottleneck here (not what this test is about): one analysis per call.
    profile = json.loads((REPO_ROOT / "functions/call_analytics/profiles/default.json").read_text())
    profile["name"] = "batch-light"
    profile["analyses"]["phases"]["enabled"] = profile["analyses"]["sentiment"]["enabled"] = False
    stack.client("s3").put_object(Bucket=stack.outputs["RecordingsBucketName"], Key="profiles/batch-light.json",
                                  Body=json.dumps(profile).encode())
    started = time.monotonic()
    call_ids = [upload(stack, short, f"recordings/batch/call {n:02d}.wav", body, profile="batch-light")
                for n in range(20)]
    assert len(set(call_ids)) == 20
    remaining = CALL_TIMEOUT * 2 - (time.monotonic() - started)
    statuses = {c: wait_terminal(stack, c, timeout=remaining)["status"] for c in call_ids}
    assert list(statuses.values()) == ["COMPLETED"] * 20, statuses
    for call_id in call_ids:
        assert call_record(stack, call_id, "ANALYSIS#action_items")["valid"]


# ---- callctl against the local stack ---------------------------------------------------------------------
@pytest.fixture
def cli(stack):
    from rich.console import Console

    from callctl.local import target_of

    return target_of(stack), Console(record=True, width=200)


def test_callctl_upload_calls_show_and_redrive(stack, samples, cli, tmp_path):
    from callctl import commands

    target, console = cli
    recording = tmp_path / "callctl upload.wav"
    recording.write_bytes((samples / CALL / "mono.wav").read_bytes())
    [uploaded] = commands.upload(target, console, [recording], profile="sales")
    call_id = uploaded["call_id"]
    meta = wait_terminal(stack, call_id)
    assert meta["status"] == "COMPLETED" and meta["profile"] == "sales"

    commands.calls(target, console, "COMPLETED", 50)
    commands.show(target, console, call_id)
    text = console.export_text()
    assert call_id in text
    for heading in ("Status history", "Phases timeline", "Sentiment questions", "Action items", "tokens"):
        assert heading in text
    assert "found" in text  # each quote is marked found / NOT FOUND

    [started] = commands.redrive(target, console, [call_id], failed=False)
    assert started["outcome"] == "started" and started["resubmit"] is False  # the stored transcript is reused
    sfn = stack.client("stepfunctions")
    final = wait_for(lambda: (d := sfn.describe_execution(executionArn=started["execution_arn"]))["status"]
                     != "RUNNING" and d, CALL_TIMEOUT, interval=0.5, what="the redrive execution")
    assert final["status"] == "SUCCEEDED"
    assert call_record(stack, call_id)["status"] == "COMPLETED"


def table_rows(console) -> dict[str, list[str]]:
    """A recorded rich table: first column -> the row's cells (a cell that wraps is not supported)."""
    rows = {}
    for line in console.export_text(clear=False).splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def test_callctl_profiles_push_list_and_invalid_file(stack, cli, tmp_path, monkeypatch, capsys):
    from callctl import commands
    from callctl.cli import main
    from callctl.target import CallctlError

    target, console = cli
    profile = json.loads((REPO_ROOT / "functions/call_analytics/profiles/sales.json").read_text())
    path = tmp_path / "support-eu.json"
    path.write_text(json.dumps({**profile, "name": "support-eu"}))
    commands.profiles_push(target, console, path, None)
    assert commands.profiles_list(target, console) == 0
    row = table_rows(console)["support-eu"]
    assert row[1:3] == ["bucket", "valid"] and "analyses: phases, sentiment, action_items" in row[3]
    path.write_text(json.dumps({**profile, "analyses": "none"}))
    with pytest.raises(CallctlError, match="invalid"):
        commands.profiles_push(target, console, path, None)

    # stored without `push` (e.g. with the AWS CLI): list validates every copy as start_call would load it
    s3, bucket = stack.client("s3"), stack.outputs["RecordingsBucketName"]
    broken = {"profiles/broken-analyses.json": {**profile, "name": "broken-analyses", "llm": 5, "analyses": "none"},
              "profiles/renamed.json": {**profile, "name": "not-renamed"}}
    for key, body in broken.items():
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())
    try:
        console = type(console)(record=True, width=250)
        assert commands.profiles_list(target, console) == 2
        rows = table_rows(console)
        name, source, status, detail = rows["broken-analyses"]
        assert (source, status) == ("bucket", "invalid")
        assert f"s3://{bucket}/profiles/broken-analyses.json (" in detail  # where, then the first of two problems
        assert detail.endswith("): llm: Input should be a valid dictionary or instance of LlmOptions (+1 more)")
        assert rows["renamed"][2] == "invalid"
        assert rows["renamed"][3].endswith("declares name 'not-renamed', expected 'renamed'")
        assert rows["support-eu"][2] == "valid" and rows["sales"][2] == "valid"
        assert "2 invalid profile(s)" in console.export_text()
        # the CLI: exit 1 when any profile is invalid (documented in `profiles --help`)
        monkeypatch.setenv("CALLCTL_ENDPOINT_URL", stack.endpoint_url)
        monkeypatch.setenv("CALLCTL_STACK", stack.stack_name)
        monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "no-state.json"))
        monkeypatch.setenv("COLUMNS", "250")
        capsys.readouterr()
        assert main(["profiles", "list"]) == 1
        assert "broken-analyses" in capsys.readouterr().out
    finally:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in broken]})
    assert main(["profiles", "list"]) == 0


def test_callctl_upload_uses_the_stack_prefix_and_refuses_suffixes_that_start_nothing(stack, cli, tmp_path):
    from callctl import commands
    from callctl.local import target_of
    from callctl.target import CallctlError

    target, console = cli
    layout = commands.upload_layout(target)
    assert layout == commands.UploadLayout("recordings/", layout.suffixes, "stack outputs")
    assert {".wav", ".aiff", ".mp3"} <= set(layout.suffixes)  # the types start_call accepts, any case
    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording")
    with pytest.raises(CallctlError, match=r"notes\.txt: not a recording file type .*\.wav"):
        commands.upload(target, console, [notes], profile=None)

    # a stack deployed with another recordings_prefix: the upload follows its output (nothing is triggered here:
    # this stack's notifications are on recordings/)
    moved = target_of(stack)
    moved._outputs = {**moved.outputs, "RecordingsPrefix": "calls/in/"}
    recording = tmp_path / "moved.wav"
    recording.write_bytes(b"RIFF")
    [row] = commands.upload(moved, console, [recording], profile=None)
    assert row["key"] == "calls/in/moved.wav"
    stack.client("s3").head_object(Bucket=stack.outputs["RecordingsBucketName"], Key="calls/in/moved.wav")

    # a stack deployed before the outputs existed: the bucket's notification filters for start_call say it
    old = target_of(stack)
    old._outputs = {k: v for k, v in old.outputs.items() if k not in ("RecordingsPrefix", "RecordingSuffixes")}
    fallback = commands.upload_layout(old)
    assert (fallback.prefix, fallback.source) == ("recordings/", "bucket notification configuration")
    assert fallback.suffixes is None  # one notification, no suffix filter: the Lambda package's own list applies
    # ... and if those say nothing either (no notification for this function): the default, with a note
    old._outputs["StartCallFunctionName"] = "some-other-function"
    assert commands.upload_layout(old) == commands.UploadLayout("recordings/", None, "default")
    with pytest.raises(CallctlError, match=r"notes\.txt: not a recording file type"):  # checked all the same
        commands.upload(old, console, [notes], profile=None)
    assert "does not say which prefix starts a call" in console.export_text()


ESCALATION_SCRIPT = Path(__file__).resolve().parent / "fixtures" / "escalation_call.json"


def test_roles_metrics_and_categories_and_a_filter_policy_that_receives_only_escalations(stack, samples):
    """Issue 11: every call gets speaker roles and a metrics item; categories are matched with evidence and
    published as the String.Array attribute `categories`, so {"categories": ["escalation"]} alerts on one."""
    from samples.generate import ensure_call, load_script

    escalation_dir = ensure_call(load_script(ESCALATION_SCRIPT), SAMPLES)
    sns, sqs, topic = stack.client("sns"), stack.client("sqs"), stack.outputs["ResultsTopicArn"]
    with TopicSubscription(sns, sqs, topic, "alerts", filter_policy={"categories": ["escalation"]}) as alerts:
        calm = upload(stack, samples / CALL / "mono.wav", f"recordings/insights/{CALL}.wav")
        angry = upload(stack, escalation_dir / "mono.wav", "recordings/insights/escalation.wav")
        records = {call_id: wait_terminal(stack, call_id) for call_id in (calm, angry)}
        assert all(r["status"] == "COMPLETED" for r in records.values()), records
        categories = call_record(stack, angry, "ANALYSIS#categories")["result"]
        transcript = json.loads(stack.client("s3").get_object(
            Bucket=stack.outputs["RecordingsBucketName"], Key=f"results/{angry}/transcript.json")["Body"].read())
        said = [(u["speaker"], u["text"]) for u in transcript["utterances"]]
        assert "escalation" in records[angry]["categories"], (categories, records[angry]["roles"], said)
        received = alerts.collect(lambda got: any(n.call_id == angry for n in got), 60)
        time.sleep(2)  # the other call was published before this: give a wrongly delivered copy time to arrive
        received += alerts.receive(wait_seconds=1)
    assert [n.call_id for n in received] == [angry]
    assert "escalation" in received[0].message["categories"]
    assert received[0].message["digest"]["metrics"]["roles"]["customer"]["talk_share"] > 0

    for call_id, record in records.items():
        # the agent greets first in both calls; the heuristic finds them by their greeting
        assert set(record["roles"]["speakers"].values()) == {"agent", "customer"}, record["roles"]
        metrics = call_record(stack, call_id, "ANALYSIS#metrics")["result"]
        for role in ("agent", "customer"):
            entry = metrics["roles"][role]
            assert entry["talk_seconds"] > 3 and entry["turns"] >= 2 and 80 < entry["words_per_minute"] < 260
        assert 0 < metrics["non_talk"]["share"] < 0.6 and metrics["response_latency"]["count"] >= 1
        assert metrics["sentiment"]["customer"]  # the default profile asks for per-sentence sentiment
    escalation = call_record(stack, angry, "ANALYSIS#categories")["result"]
    assert escalation["matched"] == records[angry]["categories"] and "escalation" in escalation["matched"]
    found = {e["kind"]: e for e in [c for c in escalation["categories"] if c["name"] == "escalation"][0]["evidence"]}
    assert set(found) == {"phrase", "question"}  # said, and the LLM (the offline engine) says so too
    phrase = found["phrase"]
    assert phrase["role"] == "customer" and "manager" in phrase["text"].lower() and phrase["start"] > 5
    assert found["question"]["answer"] == "yes" and "manager" in found["question"]["quote"].lower()
    assert "escalation" not in records[calm]["categories"]
    # the LLM got roles, not letters: the action items' owners are roles
    owners = {(i.get("owner") or "").lower() for call_id in records
              for i in call_record(stack, call_id, "ANALYSIS#action_items")["result"]["action_items"]}
    assert owners and owners <= {"agent", "customer", ""}, owners


def test_a_live_session_lands_on_the_call_record_and_its_uploaded_recording_joins_it(stack, samples, tmp_path):
    """Issue 14: the edge client (python -m edge_client, through `callctl live`) streams a call to the local
    AssemblyAI server, publishes each LLM response to the stack's live-insights topic (SNS -> SQS ->
    store_live_insight) and uploads the recording with its call id: one record carries both."""
    import wave

    from rich.console import Console

    from callctl.live import live, wait_for_live_insights
    from callctl.local import target_of

    clip = tmp_path / "live-clip.wav"  # the first 16 s of the sample: a few turns, streamed in real time
    with wave.open(str(samples / CALL / "mono.wav"), "rb") as src, wave.open(str(clip), "wb") as dst:
        dst.setparams(src.getparams())
        dst.writeframes(src.readframes(16 * src.getframerate()))
    target = target_of(stack)
    run = live(target, Console(quiet=True), source=clip, speed=1.0, agent_id="pc-it-01",
               data_dir=tmp_path / "edge", quiet=True)
    assert run.exit_code == 0, run.output
    insights = wait_for_live_insights(target, run.call_id, at_least=2, timeout=60)
    assert len(insights) >= 2, (insights, run.output)
    assert [i["turn_order"] for i in insights] == sorted(i["turn_order"] for i in insights)
    assert all(i["content"] and i["agent_id"] == "pc-it-01" for i in insights)
    for insight in insights:  # stored after the turn it answers was final
        assert insight["stored_at"][:19] >= insight["timestamps"]["turn_final_at"][:19]

    record = wait_terminal(stack, run.call_id)
    assert record["status"] == "COMPLETED", record.get("failure_reason")
    assert record["history"][0]["status"] == "LIVE" and record["agent_id"] == "pc-it-01"
    assert record["recording_key"].endswith(f"/{run.call_id}.wav")
    assert record["live_insights"] == len(insights)
    assert call_record(stack, run.call_id, "ANALYSIS#phases")["result"]["phases"]  # the batch analyses, same record

    shown = subprocess.run([sys.executable, "-m", "callctl", "show", run.call_id], cwd=REPO_ROOT, text=True,
                           capture_output=True, timeout=120,
                           env={**__import__("os").environ, "CALLCTL_ENDPOINT_URL": stack.endpoint_url,
                                "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert f"Live insights ({len(insights)})" in shown.stdout and "Phases" in shown.stdout
