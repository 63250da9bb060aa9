"""The edge client against the real local AssemblyAI server's streaming endpoint and a local SNS
(moto) subscribed by SQS with raw delivery. In-process client; subprocess tests are in test_cli.py."""

from __future__ import annotations

import threading
import time
import wave

import boto3
import pytest
import requests
from conftest import start_aai_server

from edge_client.audio import WavFileSource
from edge_client.cli import start_publisher
from edge_client.client import EXIT_AUTH, EXIT_OK, EdgeClient

from .conftest import wav_frames
from .helpers import edge_settings

pytestmark = pytest.mark.slow


def streaming_config(faults: list[dict] | None = None) -> dict:
    # enforce_realtime off: tests stream at SPEED x real time (the client paces; the real service needs 1x).
    # Turns end on silence detected frame by frame by the server (the client sends max_turn_silence),
    # independent of how far its decoder lags, so partial decodes stay on as in production.
    cfg: dict = {"streaming": {"enforce_realtime": False}}
    if faults:
        cfg["faults"] = {"rules": faults}
    return cfg


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):
    server = start_aai_server(tmp_path_factory.mktemp("aai-edge"), streaming_config())
    yield server
    server.stop()


def run_call(settings, api_key, wav, *, publish=True, during=None, out=None):
    outbox = publisher = None
    if publish:
        outbox, publisher = start_publisher(settings)
    client = EdgeClient(settings, api_key, WavFileSource(wav, speed=settings.source_speed),
                        outbox=outbox, publisher=publisher, out=out or (lambda line: None))
    watcher = None
    if during is not None:
        watcher = threading.Thread(target=during, args=(client,), daemon=True)
        watcher.start()
    try:
        summary = client.run()
    finally:
        if watcher:
            watcher.join(30)
        if publisher:
            publisher.stop()
    return client, summary


def assert_exactly_once_in_order(messages, client):
    keys = [m["body"]["dedup_key"] for m in messages]
    assert len(keys) == len(set(keys)), f"duplicates: {keys}"
    assert len(keys) == client.llm_responses
    # in order: sessions in the order they ran, turn_order ascending within a session
    order = {sid: i for i, sid in enumerate(client.session_ids)}
    positions = [(order[m["body"]["session_id"]], m["body"]["turn_order"]) for m in messages]
    assert positions == sorted(positions)


def test_paced_wav_session_turns_and_llm_responses_reach_sqs_exactly_once_in_order(
        stream_server, sns_sqs, aws_endpoint, call_wav, tmp_path):
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="edge-recordings")
    s = edge_settings(tmp_path, stream_server.ws_url, topic_arn=sns_sqs.topic_arn, call_id="call-e2e-1",
                      upload_bucket="edge-recordings", profile="billing")
    client, summary = run_call(s, stream_server.api_key, call_wav)
    assert summary.exit_code == EXIT_OK, summary.message
    assert summary.sessions == 1 and len(summary.session_ids) == 1
    assert summary.turns >= 2 and summary.llm_responses >= 2
    assert summary.frames_sent == summary.frames_captured and summary.frames_dropped == 0
    msgs = sns_sqs.receive_all(expect=summary.llm_responses)
    assert_exactly_once_in_order(msgs, client)
    first = msgs[0]
    body, attrs = first["body"], first["attributes"]
    assert body["schema"] == "edge.llm_response.v1" and body["call_id"] == "call-e2e-1"
    assert body["agent_id"] == "pc-test-01" and body["session_id"] == summary.session_ids[0]
    assert body["transcript"].strip() and body["llm"]["content"].strip()
    assert body["dedup_key"] == f"call-e2e-1:{body['session_id']}:{body['turn_order']}"
    assert body["timestamps"]["turn_final_at"] <= body["timestamps"]["llm_received_at"]
    assert attrs["call_id"] == "call-e2e-1" and attrs["agent_id"] == "pc-test-01"
    assert attrs["type"] == "llm_response" and attrs["dedup_key"] == body["dedup_key"]
    # the words of the call came through the real recogniser
    text = " ".join(m["body"]["transcript"] for m in msgs).lower()
    assert "fabrikam" in text or "bill" in text or "tom" in text, text
    # the recording on disk is the audio that was captured, sample for sample
    with wave.open(str(summary.recording), "rb") as w:
        rec = w.readframes(w.getnframes())
    with wave.open(str(call_wav), "rb") as w:
        src = w.readframes(w.getnframes())
    assert len(rec) == summary.frames_captured * 1600 and rec[: len(src)] == src
    assert summary.outbox_pending == 0 and summary.outbox_dead == 0
    # uploaded under recordings/ with the metadata the batch pipeline needs
    key = summary.upload_uri.removeprefix("s3://edge-recordings/")
    assert key.startswith("recordings/pc-test-01/") and key.endswith("/call-e2e-1.wav")
    head = s3.head_object(Bucket="edge-recordings", Key=key)
    assert head["Metadata"]["call-id"] == "call-e2e-1" and head["Metadata"]["agent-id"] == "pc-test-01"
    assert head["Metadata"]["profile"] == "billing" and head["Metadata"]["session-ids"] == summary.session_ids[0]
    assert head["ContentLength"] == summary.recording.stat().st_size


def test_server_close_3005_mid_session_reconnects_with_a_new_session(sns_sqs, aws_endpoint, call_wav, tmp_path):
    faults = [{"group": "streaming", "action": "ws_close", "close_code": 3005, "after_seconds": 2.0, "next_n": 1}]
    server = start_aai_server(tmp_path, streaming_config(faults))
    try:
        s = edge_settings(tmp_path, server.ws_url, topic_arn=sns_sqs.topic_arn)

        def broken_console(line):  # a failing handler (print) must never kill the session
            if line.startswith("Turn"):
                raise OSError("console is gone")

        client, summary = run_call(s, server.api_key, call_wav, out=broken_console)
    finally:
        server.stop()
    assert summary.exit_code == EXIT_OK, summary.message
    assert summary.sessions == 2 and len(set(summary.session_ids)) == 2
    assert client.sessions[0].close_code == 3005
    assert client.sessions[1].termination
    # nothing captured was lost on the way: everything went out, across both sessions
    assert summary.frames_sent == summary.frames_captured and summary.frames_dropped == 0
    assert client.sessions[1].turns, "the second session produced turns"
    assert len(client.reconnect_times) == 1
    assert client.console_errors >= 1  # the console failed, the call went on
    msgs = sns_sqs.receive_all(expect=summary.llm_responses)
    assert_exactly_once_in_order(msgs, client)


def test_server_side_drop_without_close_frame_reconnects_with_a_new_session(sns_sqs, aws_endpoint, call_wav,
                                                                           tmp_path):
    """The server aborts the TCP connection (fault ws_drop: no Error, no close frame), as a crashed
    server or a broken path that still delivers the FIN/RST would."""
    faults = [{"group": "streaming", "action": "ws_drop", "after_seconds": 2.0, "next_n": 1}]
    server = start_aai_server(tmp_path, streaming_config(faults))
    try:
        s = edge_settings(tmp_path, server.ws_url, topic_arn=sns_sqs.topic_arn)
        client, summary = run_call(s, server.api_key, call_wav)
        stats = requests.get(f"{server.base_url}/_local/stats", headers={"Authorization": server.api_key},
                             timeout=5).json()
    finally:
        server.stop()
    assert summary.exit_code == EXIT_OK, summary.message
    assert stats["faults_injected"].get("streaming:ws_drop") == 1 and stats["events"].get("ws_drop") == 1
    assert summary.sessions == 2 and len(set(summary.session_ids)) == 2
    first, second = client.sessions
    assert first.close_code is None and not first.termination and first.error_code is None  # no close frame
    assert second.termination and second.turns, "the new session ran to the end and produced turns"
    assert len(client.reconnect_times) == 1
    assert summary.frames_sent == summary.frames_captured and summary.frames_dropped == 0
    msgs = sns_sqs.receive_all(expect=summary.llm_responses)
    assert_exactly_once_in_order(msgs, client)


def test_bad_key_1008_stops_with_a_clear_error_and_no_retry(stream_server, call_wav, tmp_path, caplog):
    s = edge_settings(tmp_path, stream_server.ws_url, reconnect_max_attempts=5)
    lines = []
    client = EdgeClient(s, "wrong-key-0123456789", WavFileSource(call_wav, speed=s.source_speed), out=lines.append)
    summary = client.run()
    assert summary.exit_code == EXIT_AUTH
    assert len(client.sessions) == 1  # no retry loop
    assert "API key" in summary.message and ("1008" in summary.message or "401" in summary.message)
    assert any(line.startswith("ERROR:") for line in lines)
    assert "wrong-key-0123456789" not in caplog.text
    assert wav_frames(summary.recording) == summary.frames_captured * 800  # the recording is still valid


def test_sns_outage_of_several_seconds_loses_nothing(stream_server, moto_server, sns_sqs, aws_endpoint, call_wav,
                                                     tmp_path):
    s = edge_settings(tmp_path, stream_server.ws_url, topic_arn=sns_sqs.topic_arn, call_id="call-outage")
    outage = {}

    def sns_outage(client):
        deadline = time.monotonic() + 60
        while client.llm_responses < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        moto_server.stop()
        outage["published_before"] = client.publisher.stats.published
        time.sleep(4.0)
        outage["failures_during"] = client.publisher.stats.failures
        moto_server.start()

    try:
        client, summary = run_call(s, stream_server.api_key, call_wav, during=sns_outage)
    finally:
        moto_server.start()
    assert summary.exit_code == EXIT_OK, summary.message
    assert outage["failures_during"] > 0, "the outage was real: publishes failed while SNS was down"
    assert summary.llm_responses >= 2
    msgs = sns_sqs.receive_all(expect=summary.llm_responses, timeout=20)
    assert_exactly_once_in_order(msgs, client)
    assert summary.outbox_dead == 0
