"""Fixtures for the edge client: sample audio, a local SNS+SQS (moto on 127.0.0.1), edge settings,
and a PulseAudio virtual microphone for the one real-capture test."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


# ------------------------------------------------------------------------------------------------ audio

def _espeak_clip(out: Path) -> None:
    """Fallback when samples.generate is unavailable: two voices, ~10 s, 16 kHz mono s16le."""
    parts = []
    lines = [("en-us+f3", "Fabrikam Energy, this is Tom speaking. How can I help?"),
             ("en-gb-x-rp+m3", "Hi Tom, I have a quick question about my electricity bill."),
             ("en-us+f3", "Let me check. The last reading was an estimate.")]
    for i, (voice, text) in enumerate(lines):
        raw = out.parent / f"part{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        parts.append(str(raw))
    subprocess.run(["sox", *parts, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
                    "pad", "0.5", "1.0"], check=True)


@pytest.fixture(scope="session")
def call_wav(tmp_path_factory) -> Path:
    """The 'fabrikam_billing_question' sample call: 37.7 s, 8 utterances, 2 speakers (samples.generate);
    a 3-sentence espeak-ng clip if the generator is unavailable."""
    d = tmp_path_factory.mktemp("edge-audio")
    gen = subprocess.run([sys.executable, "-m", "samples.generate", "--out", str(d / "samples"),
                          "--call", "fabrikam_billing_question"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=False)
    full = d / "samples" / "fabrikam_billing_question" / "mono.wav"
    if gen.returncode == 0 and full.is_file():
        return full
    out = d / "call16k.wav"
    _espeak_clip(out)
    return out


@pytest.fixture(scope="session")
def short_wav(call_wav) -> Path:
    """The first 16.2 s of the call (3 utterances): for the tests that must run in real time."""
    out = call_wav.parent / "short16k.wav"
    if not out.exists():
        subprocess.run(["sox", str(call_wav), str(out), "trim", "0", "16.2"], check=True)
    return out


def wav_frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getnframes()


# ------------------------------------------------------------------------------------------------ AWS (moto)

@pytest.fixture(scope="session", autouse=True)
def aws_test_env():
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class MotoServer:
    """A moto server on 127.0.0.1 that can be stopped and restarted on the same port (an outage).
    moto keeps its state in-process, so topics and queues survive the restart."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._cls = ThreadedMotoServer
        self._srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._srv.start()
        self.host, self.port = self._srv.get_host_and_port()
        self.running = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.running:
            self._srv.stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            deadline = time.monotonic() + 10
            while True:
                try:
                    self._srv = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
                    self._srv.start()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            self.running = True


@pytest.fixture(scope="session")
def moto_server():
    srv = MotoServer()
    yield srv
    srv.stop()


class SnsToSqs:
    def __init__(self, endpoint: str, name: str, fifo: bool = False):
        self.endpoint = endpoint
        self.sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        suffix = ".fifo" if fifo else ""
        attrs = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
        self.topic_arn = self.sns.create_topic(Name=name + suffix, Attributes=attrs)["TopicArn"]
        qattrs = {"FifoQueue": "true"} if fifo else {}
        self.queue_url = self.sqs.create_queue(QueueName=name + "-q" + suffix, Attributes=qattrs)["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=qarn,
                           Attributes={"RawMessageDelivery": "true"})

    def receive_all(self, expect: int | None = None, timeout: float = 10.0) -> list[dict]:
        """Everything in the queue (deleted as read). Waits up to `timeout` for `expect` messages,
        then one more short poll to catch duplicates."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                            MessageAttributeNames=["All"])
            msgs = resp.get("Messages", [])
            for m in msgs:
                got.append({"body": json.loads(m["Body"]),
                            "attributes": {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            if msgs:
                continue
            if expect is None or len(got) >= expect or time.monotonic() > deadline:
                if expect is not None and len(got) >= expect:
                    time.sleep(0.3)  # a duplicate would show up now
                    extra = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=0, MessageAttributeNames=["All"])
                    for m in extra.get("Messages", []):
                        got.append({"body": json.loads(m["Body"]), "attributes": {}})
                return got
            time.sleep(0.1)


@pytest.fixture
def sns_sqs(moto_server, request):
    name = "edge-" + request.node.name.replace("[", "-").replace("]", "")[:40]
    return SnsToSqs(moto_server.endpoint, name)


@pytest.fixture
def aws_endpoint(moto_server, monkeypatch):
    """Point boto3 (AWS_ENDPOINT_URL) at the local moto server for in-process clients."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    return moto_server.endpoint


# ------------------------------------------------------------------------------------------------ PulseAudio

# Same PulseAudio script as scripts/vmic.sh writes (recipe E of the edge-client research note).
VMIC_PA = """\
load-module module-native-protocol-unix auth-anonymous=1 socket=VMIC_DIR/pulse.sock
load-module module-null-source source_name=silence rate=16000 channels=1 format=s16le max_latency_msec=50
load-module module-virtual-source source_name=vmic master=silence uplink_sink=vmic_in rate=16000 channels=1 format=s16le
set-default-source vmic
set-default-sink vmic_in
"""


@pytest.fixture(scope="session")
def virtual_mic(tmp_path_factory):
    """PulseAudio with a timer-clocked null source + virtual source 'vmic' (recipe E). Yields the
    environment a child process needs (PULSE_SERVER...)."""
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.skip("pulseaudio/paplay not installed (apt-get install pulseaudio pulseaudio-utils "
                    "libasound2-plugins); CI installs them, so this test runs there")
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="vmic.", dir="/tmp"))  # short path: unix socket limit ~108 bytes
    (d / "runtime").mkdir(mode=0o700)
    (d / "home").mkdir()
    (d / "vmic.pa").write_text(VMIC_PA.replace("VMIC_DIR", str(d)))
    env = {**os.environ, "HOME": str(d / "home"), "XDG_RUNTIME_DIR": str(d / "runtime")}
    log = open(d / "pulse.log", "wb")  # noqa: SIM115 - PulseAudio writes it until teardown
    proc = subprocess.Popen(["pulseaudio", "--daemonize=no", "-n", "-F", str(d / "vmic.pa"), "--exit-idle-time=-1",
                             "--use-pid-file=no", "--log-target=stderr", "--log-level=error"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    child_env = {**os.environ, "PULSE_SERVER": f"unix:{d}/pulse.sock"}
    deadline = time.monotonic() + 15
    while subprocess.run(["pactl", "info"], env=child_env, capture_output=True, check=False).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("PulseAudio did not start: " + (d / "pulse.log").read_text())
        time.sleep(0.05)
    yield child_env
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(d, ignore_errors=True)
