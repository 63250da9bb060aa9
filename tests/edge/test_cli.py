"""`python -m edge_client` as a real process: Ctrl+C, SIGKILL + restart, the PulseAudio virtual
microphone, and the operator-facing error messages."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, start_aai_server

from .conftest import SnsToSqs, wav_frames
from .helpers import CliRun, cli_args, cli_env, outbox_rows
from .test_session import streaming_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):
    server = start_aai_server(tmp_path_factory.mktemp("aai-edge-cli"), streaming_config())
    yield server
    server.stop()


def frames_captured(output: str) -> int:
    m = re.findall(r"frames_captured=(\d+) frames_sent=(\d+)", output)
    assert m, output[-3000:]
    return int(m[-1][0])


def recording_path(tmp_path, output: str):
    m = re.search(r"recording to (\S+\.wav)", output)
    assert m, output[-3000:]
    return m.group(1)


def test_ctrl_c_terminates_cleanly_with_a_valid_wav(stream_server, call_wav, tmp_path):
    run = CliRun(cli_args(tmp_path, stream_server.ws_url, "--source", str(call_wav), speed=1.0),
                 cli_env(stream_server.api_key, None), tmp_path / "client.log")
    try:
        run.wait_for(lambda out: "session started:" in out, timeout=60)
        run.wait_for(lambda out: "Turn 0" in out, timeout=60)
        run.signal(signal.SIGINT)
        code = run.wait(60)
    finally:
        run.kill()
    out = run.output
    assert code == 0, out[-3000:]
    # Terminate -> Termination, not a hard close
    assert "sent Terminate" in out and "terminated:" in out, out[-3000:]
    n = frames_captured(out)
    assert 0 < n < wav_frames(call_wav) // 800  # stopped mid-call
    rec = recording_path(tmp_path, out)
    assert wav_frames(rec) == n * 800  # the WAV holds exactly the audio captured
    assert stream_server.api_key not in out


def test_sigkill_keeps_a_valid_wav_and_restart_drains_the_outbox(stream_server, moto_server, call_wav, tmp_path):
    bus = SnsToSqs(moto_server.endpoint, "edge-sigkill")
    dead_endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: SNS is unreachable
    run = CliRun(cli_args(tmp_path, stream_server.ws_url, "--source", str(call_wav), "--topic-arn", bus.topic_arn,
                          "--call-id", "call-killed"),
                 cli_env(stream_server.api_key, dead_endpoint), tmp_path / "client1.log")
    try:
        out = run.wait_for(lambda o: o.count("LLM (turn") >= 2, timeout=90)
        run.proc.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        run.kill()
    assert "is not reachable right now" in out  # topic validated at start, clear message, call went on
    db = tmp_path / "edge-data" / "outbox.db"
    pending = outbox_rows(db)
    assert len(pending) >= 2 and all(dead == 0 for _, dead in pending)
    # the recording survived SIGKILL: valid header, whole frames, nothing after the data chunk
    rec = recording_path(tmp_path, out)
    with wave.open(rec, "rb") as w:
        n = w.getnframes()
        assert n > 0 and w.getframerate() == 16000
    # restart with SNS reachable: the outbox drains, in order, exactly once
    drain = subprocess.run(cli_args(tmp_path, stream_server.ws_url, "--drain-outbox", "--drain-timeout", "20"),
                           env=cli_env(stream_server.api_key, moto_server.endpoint), cwd=str(tmp_path.parent),
                           capture_output=True, text=True, timeout=60, check=False)
    assert drain.returncode == 0, drain.stdout + drain.stderr
    assert f"holds {len(pending)} unpublished" in drain.stderr or "0 pending" in drain.stdout
    msgs = bus.receive_all(expect=len(pending))
    assert [m["body"]["dedup_key"] for m in msgs] == [k for k, _ in pending]
    assert outbox_rows(db) == []


@pytest.mark.mic
def test_microphone_capture_through_the_pulseaudio_virtual_mic(stream_server, virtual_mic, short_wav, tmp_path):
    env = cli_env(stream_server.api_key, None, PULSE_SERVER=virtual_mic["PULSE_SERVER"])
    args = [a for a in cli_args(tmp_path, stream_server.ws_url, speed=1.0)]
    run = CliRun(args, env, tmp_path / "mic.log")
    player = None
    try:
        run.wait_for(lambda o: "microphone open" in o and "session started:" in o, timeout=60)
        player = subprocess.Popen(["paplay", "-d", "vmic_in", str(short_wav)], env=virtual_mic)
        player.wait(60)
        run.wait_for(lambda o: "Turn 0" in o, timeout=60)
        run.signal(signal.SIGINT)
        code = run.wait(60)
    finally:
        if player and player.poll() is None:
            player.kill()
        run.kill()
    out = run.output
    assert code == 0, out[-3000:]
    assert re.search(r"Turn \d+: \S+", out)  # speech heard through the real PyAudio capture path
    # the recording contains the played audio (aligned by cross-correlation)
    rec = recording_path(tmp_path, out)
    assert wav_frames(rec) == frames_captured(out) * 800
    with wave.open(rec, "rb") as w:
        got = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    with wave.open(str(short_wav), "rb") as w:
        src = np.frombuffer(w.readframes(16000 * 6), "<i2").astype(float)
    ref = src[16000:16000 * 4]
    n = len(got) + len(ref)
    corr = np.fft.irfft(np.fft.rfft(got, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(got) - len(ref) + 1]
    lag = int(np.argmax(corr))
    seg = got[lag: lag + 48000]
    similarity = float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-9))
    assert similarity > 0.95, similarity


def test_operator_errors_are_clear(tmp_path, call_wav):
    base = [*cli_args(tmp_path, "ws://127.0.0.1:9/v3/ws")]
    # no API key anywhere (keyring backend that has none): exit 3 with the fix in the message
    env = cli_env("", None, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("ASSEMBLYAI_API_KEY")
    r = subprocess.run([*base, "--source", str(call_wav)], env=env, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 3 and "ASSEMBLYAI_API_KEY" in r.stderr and "--store-key" in r.stderr
    # bad settings: exit 2, every problem listed
    r = subprocess.run([*base, "--prompt", "no tag", "--max-tokens", "0"], env=env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 2 and "{{turn}}" in r.stderr and "max_tokens" in r.stderr


def _has_sound_card() -> bool:
    try:
        return "no soundcards" not in Path("/proc/asound/cards").read_text()
    except OSError:
        return False


def test_no_microphone_is_reported_clearly(tmp_path):
    if _has_sound_card():
        pytest.skip("this machine has a sound card, so it has a microphone input")
    env = cli_env("k-123456789012", None)
    env.pop("PULSE_SERVER", None)  # no PulseAudio reachable and no sound card: no input device
    r = subprocess.run(cli_args(tmp_path, "ws://127.0.0.1:9/v3/ws"), env=env, capture_output=True, text=True,
                       timeout=60, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 4 and "no microphone" in out.lower(), out
    assert "k-123456789012" not in out


@pytest.mark.mic
def test_unknown_device_lists_the_available_inputs(tmp_path, virtual_mic):
    env = cli_env("k-123456789012", None, PULSE_SERVER=virtual_mic["PULSE_SERVER"])
    r = subprocess.run([*cli_args(tmp_path, "ws://127.0.0.1:9/v3/ws"), "--device", "Headset 9000"], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 4 and "not found" in r.stderr and "Available inputs" in r.stderr, r.stderr


def test_store_key_saves_to_the_keyring_and_the_client_uses_it_without_printing_it(tmp_path, call_wav):
    secret = "aai-secret-key-0123456789"
    env = cli_env("", None, PYTHON_KEYRING_BACKEND="edge.fake_keyring.FakeKeyring",
                  FAKE_KEYRING_FILE=str(tmp_path / "keyring.json"))
    env.pop("ASSEMBLYAI_API_KEY")
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{Path(__file__).resolve().parents[1]}"
    r = subprocess.run(cli_args(tmp_path, "ws://127.0.0.1:9/v3/ws")[:3] + ["--store-key"], input=secret + "\n",
                       env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "call-analytics-edge-client" in r.stdout and secret not in r.stdout
    stored = json.loads((tmp_path / "keyring.json").read_text())
    assert stored == {"call-analytics-edge-client/assemblyai-api-key": secret}
    # the client finds it there (the server is unreachable, so it gives up after one reconnect)
    dead = f"ws://127.0.0.1:{free_port()}/v3/ws"
    r = subprocess.run([*cli_args(tmp_path, dead), "--source", str(call_wav), "--reconnect-max-attempts", "1",
                        "--log-level", "DEBUG"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "API key from OS keyring" in r.stderr, r.stderr[-2000:]
    assert r.returncode == 5 and "giving up" in r.stderr
    assert secret not in r.stdout + r.stderr
