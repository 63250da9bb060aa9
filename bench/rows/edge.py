"""Row 5c: edge client CPU and memory over a paced session.

Ours: `python -m edge_client --source FILE.wav --source-speed 1` (real-time pacing, enforced by the server)
against the local AssemblyAI server (Streaming v3 + llm_gateway on every final turn) and a moto SNS topic
(the outbox publishes there), sampled with psutil every second. Memory growth = RSS at the end minus RSS
at 3 s (after imports). CPU = client CPU seconds / wall seconds over the steady part, % of one core.
Baseline: the seed 004 script keeps every 50 ms frame in `recorded_frames` until the end of the call,
i.e. its memory grows by frames x 1600 bytes (16 kHz PCM16) - a model, not a run: the seed needs a
microphone and the real service.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

from bench.aai import API_KEY, start_server
from bench.core import REPO_ROOT, Context, Row, Unavailable
from bench.corpus import sample_calls

TITLE = "edge client CPU / memory"
IN_SMOKE = False
FRAME_BYTES = 1600            # 50 ms of 16 kHz PCM16 (seed 004: FRAMES_PER_BUFFER = 800 samples)
FRAMES_PER_SECOND = 20
DEFAULT_SECONDS = 120.0


def _session_wav(ctx: Context, seconds: float) -> Path:
    """The sample calls back to back (repeated) for `seconds`, 16 kHz mono PCM16."""
    calls = sample_calls(ctx)
    out = ctx.work_dir / "edge" / f"session-{seconds:.0f}s.wav"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        return out
    needed, chunks, params = int(seconds * 16000) * 2, [], None
    while sum(len(c) for c in chunks) < needed:
        for call in calls:
            with wave.open(str(call.mono)) as r:
                params = params or r.getparams()
                chunks.append(r.readframes(r.getnframes()))
    with wave.open(str(out), "wb") as w:
        w.setparams(params)
        w.writeframes(b"".join(chunks)[:needed])
    return out


def run(ctx: Context) -> list[Row]:
    try:
        import psutil
        from moto.server import ThreadedMotoServer

        import edge_client  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"needs edge_client, psutil and moto ({exc})") from None
    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log would bury the table
    seconds = ctx.options.edge_seconds or DEFAULT_SECONDS
    wav = _session_wav(ctx, seconds)
    server = start_server(ctx.work_dir / "edge")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        endpoint = "http://%s:%d" % moto.get_host_and_port()
        aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": endpoint}
        sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                           aws_secret_access_key="bench")
        topic = sns.create_topic(Name="bench-edge")["TopicArn"]
        data_dir = ctx.work_dir / "edge" / f"client-{int(time.time())}"
        cmd = [sys.executable, "-m", "edge_client", "--api-url", f"ws://127.0.0.1:{server.port}/v3/ws",
               "--source", str(wav), "--source-speed", "1", "--topic-arn", topic, "--data-dir", str(data_dir),
               "--log-file", "none"]
        env = {**os.environ, **aws, "ASSEMBLYAI_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"}
        log_path = data_dir.with_suffix(".log")
        ctx.log(f"edge client: {seconds:.0f} s paced session (real time)")
        samples: list[tuple[float, float, int]] = []
        with open(log_path, "wb") as log:
            client = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            proc = psutil.Process(client.pid)
            t0 = time.monotonic()
            try:
                while client.poll() is None:
                    try:
                        ct = proc.cpu_times()
                        samples.append((time.monotonic() - t0, ct.user + ct.system, proc.memory_info().rss))
                    except psutil.NoSuchProcess:
                        break
                    if time.monotonic() - t0 > seconds + 120:
                        client.terminate()
                        break
                    time.sleep(1.0)
                code = client.wait(timeout=30)
            finally:
                if client.poll() is None:
                    client.kill()
    finally:
        moto.stop()
        server.stop()
    out = log_path.read_text(errors="replace")
    steady = [s for s in samples if s[0] >= 3.0]
    if code != 0 or len(steady) < 3:
        raise Unavailable(f"edge client exited {code} after {len(samples)} s; see {log_path}")
    cpu = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) * 100
    growth = (steady[-1][2] - steady[0][2]) / 1024 / 1024
    peak = max(s[2] for s in samples) / 1024 / 1024
    frames = re.findall(r"frames_captured=(\d+)", out)
    n_frames = int(frames[-1]) if frames else int(seconds * FRAMES_PER_SECOND)
    baseline = n_frames * FRAME_BYTES / 1024 / 1024
    per_hour = FRAMES_PER_SECOND * 3600 * FRAME_BYTES / 1024 / 1024
    return [
        Row(f"edge client memory growth, {seconds:.0f} s session", baseline, growth, "MiB",
            f"seeds modelled: {n_frames} frames x {FRAME_BYTES} B kept in memory ({per_hour:.0f} MiB per hour "
            "of call); "
            f"ours measured: RSS end - RSS at 3 s (peak {peak:.1f} MiB), recording streamed to disk", digits=2),
        Row(f"edge client CPU, {seconds:.0f} s session", None, cpu, "% core",
            "ours: psutil, steady state; seeds not run (needs a microphone and the real service)", digits=1),
    ]
