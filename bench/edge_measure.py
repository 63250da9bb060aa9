"""Dev tool (not a test): measure a paced edge-client session on this machine.

    python -m bench.edge_measure [--seconds 120] [--drop-at 30] [--wav FILE]

Starts the local AssemblyAI server (real-time pacing enforced, one injected 1011 close at --drop-at s)
and a moto SNS -> SQS on 127.0.0.1, runs `python -m edge_client --source WAV` in real time, and
reports: client CPU % of one core, RSS at start / middle / end (flat = no growth with call length),
latency from a final turn to SNS accepting its message, and the reconnect time after the drop.
Needs the dev environment (local_assemblyai, moto, psutil, sox, espeak-ng).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_wav(out: Path, seconds: float, work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "samples.generate", "--out", str(work / "samples")], cwd=REPO, check=True,
                   capture_output=True)
    calls = sorted((work / "samples").glob("*/mono.wav"))
    calls = [c for c in calls if not c.parent.name.startswith("_")]
    total = 0.0
    parts: list[str] = []
    while total < seconds:
        for c in calls:
            parts.append(str(c))
            total += float(subprocess.run(["soxi", "-D", str(c)], capture_output=True, text=True, check=False).stdout)
    subprocess.run(["sox", *parts, str(out), "trim", "0", str(seconds)], check=True)
    return out


def start_server(work: Path, drop_at: float | None) -> tuple[subprocess.Popen, int]:
    import requests

    port = _free_port()
    cfg = {"api_keys": ["measure-key"], "data_dir": str(work / "aai")}
    if drop_at:
        cfg["faults"] = {"rules": [{"group": "streaming", "action": "ws_close", "close_code": 1011,
                                    "after_seconds": drop_at, "next_n": 1}]}
    (work / "aai.json").write_text(json.dumps(cfg))
    with open(work / "aai.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "local_assemblyai", "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--config", str(work / "aai.json")], cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return proc, port
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("local server did not start")


def main(argv: list[str] | None = None) -> int:
    import boto3
    import psutil
    from moto.server import ThreadedMotoServer

    ap = argparse.ArgumentParser(prog="python -m bench.edge_measure")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--drop-at", type=float, default=30.0, help="inject a 1011 close after N s (0 = none)")
    ap.add_argument("--wav")
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    work = Path(tempfile.mkdtemp(prefix="edge-measure-"))
    wav = Path(args.wav) if args.wav else build_wav(work / "call.wav", args.seconds, work)
    server, port = start_server(work, args.drop_at or None)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, mport = moto.get_host_and_port()
    endpoint = f"http://{host}:{mport}"
    aws = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint}
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    topic = sns.create_topic(Name="edge-measure")["TopicArn"]
    env = {**os.environ, **aws, "ASSEMBLYAI_API_KEY": "measure-key", "PYTHONPATH": str(REPO),
           "PYTHONUNBUFFERED": "1"}
    log_path = work / "client.log"
    cmd = [sys.executable, "-m", "edge_client", "--api-url", f"ws://127.0.0.1:{port}/v3/ws", "--source", str(wav),
           "--source-speed", "1", "--topic-arn", topic, "--data-dir", str(work / "edge"), "--log-file", "none"]
    try:
        with open(log_path, "wb") as fh:
            client = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
            p = psutil.Process(client.pid)
            samples = []  # (t, cpu_seconds, rss)
            t0 = time.monotonic()
            while client.poll() is None:
                try:
                    ct = p.cpu_times()
                    samples.append((time.monotonic() - t0, ct.user + ct.system, p.memory_info().rss))
                except psutil.NoSuchProcess:
                    break
                time.sleep(1.0)
            code = client.wait()
        out = log_path.read_text()
    finally:
        server.terminate()
        moto.stop()
    lat = [float(x) for x in re.findall(r"to SNS (\d+) ms after the final turn", out)]
    reconnect = [float(x) for x in re.findall(r"reconnected in ([\d.]+)s", out)]
    # CPU over the steady part (skip the first 3 s: interpreter start and imports)
    steady = [s for s in samples if s[0] >= 3.0]
    cpu = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) * 100 if len(steady) > 2 else float("nan")
    mb = 1024 * 1024
    mid = samples[len(samples) // 2] if samples else (0, 0, 0)
    print(f"exit code {code}; audio {args.seconds:.0f} s paced in real time; log {log_path}")
    print(f"client CPU (steady state): {cpu:.2f} % of one core")
    if samples:
        print(f"client RSS: start(3 s) {steady[0][2] / mb:.1f} MB, middle {mid[2] / mb:.1f} MB, "
              f"end {samples[-1][2] / mb:.1f} MB, max {max(s[2] for s in samples) / mb:.1f} MB")
    if lat:
        print(f"final turn -> SNS accepted: n={len(lat)} p50 {statistics.median(lat):.0f} ms, "
              f"max {max(lat):.0f} ms")
    print(f"reconnect after the injected 1011 close (drop -> next Begin): {reconnect or 'none'} s")
    print(re.findall(r"frames_captured=\d+ frames_sent=\d+ frames_dropped=\d+", out))
    return code


if __name__ == "__main__":
    sys.exit(main())
