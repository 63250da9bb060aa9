"""Synthesize the sample calls (ground truth in `samples/scripts/*.json`) with espeak-ng + sox.

    python -m samples.generate --out DIR [--call ID ...] [--force]

Per call, into `DIR/<call id>/`:
  mono.wav    16 kHz PCM16, both speakers mixed (light noise floor, so silence is not digital zero)
  stereo.wav  16 kHz PCM16, agent = left channel, customer = right channel
  mono.mp3    64 kbps MP3 of the mono mix (lame)
  truth.json  the script plus the synthesized timing of each utterance (start/end seconds)
Plus `DIR/_errors/`: `silence.wav` (2 s, no speech), `too_short.wav` (100 ms), `not_audio.txt`.

Deterministic: espeak-ng is bit-exact, sox runs with `-R` (repeatable dither) and the noise uses a
seeded RNG. Each call directory records the hash of everything that shapes its audio; a repeated
run with the same hash returns immediately.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
GENERATOR_VERSION = "1"  # bump when the synthesis recipe changes (invalidates the cache)

# espeak-ng formant voices: distinct accent, variant, pitch (0-99), speed (wpm) and amplitude.
DEFAULT_VOICES: dict[str, dict[str, object]] = {
    "agent": {"voice": "en-us+f3", "pitch": 62, "speed": 165, "amp": 110},
    "customer": {"voice": "en-gb-x-rp+m3", "pitch": 38, "speed": 158, "amp": 120},
}
CHANNEL_OF_ROLE = {"agent": 0, "customer": 1}  # stereo: agent left, customer right


@dataclass(frozen=True)
class Utterance:
    speaker: str
    phase: str
    sentiment: str
    text: str


@dataclass(frozen=True)
class CallScript:
    id: str
    title: str
    seed: int
    utterances: list[Utterance]
    voices: dict[str, dict[str, object]]
    raw: dict

    @property
    def digest(self) -> str:
        """Hash of everything that determines the audio (script, voices, recipe version)."""
        payload = json.dumps({"script": self.raw, "voices": self.voices, "version": GENERATOR_VERSION},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def load_script(path: Path) -> CallScript:
    raw = json.loads(path.read_text())
    utterances = [Utterance(*row) for row in raw["utterances"]]
    for u in utterances:
        if u.speaker not in CHANNEL_OF_ROLE:
            raise ValueError(f"{path.name}: unknown speaker role {u.speaker!r}")
    voices = {**DEFAULT_VOICES, **raw.get("voices", {})}
    return CallScript(id=raw["id"], title=raw["title"], seed=int(raw["seed"]), utterances=utterances,
                      voices=voices, raw=raw)


def available_scripts() -> dict[str, CallScript]:
    return {s.id: s for s in (load_script(p) for p in sorted(SCRIPTS_DIR.glob("*.json")))}


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"unexpected format in {path}")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def write_wav(path: Path, data: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    data = np.asarray(data, dtype=np.float32)
    channels = 1 if data.ndim == 1 else data.shape[1]
    pcm = (np.clip(data, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def _synthesize_utterance(text: str, voice: dict[str, object], workdir: Path, index: int) -> np.ndarray:
    raw, out = workdir / f"u{index:03d}_raw.wav", workdir / f"u{index:03d}.wav"
    subprocess.run(["espeak-ng", "-v", str(voice["voice"]), "-p", str(voice["pitch"]), "-s", str(voice["speed"]),
                    "-a", str(voice["amp"]), "-w", str(raw), text], check=True, capture_output=True)
    # Resample to 16 kHz mono and trim leading/trailing silence so the ground-truth times are tight.
    subprocess.run(["sox", "-R", "-v", "0.7", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out),
                    "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"],
                   check=True, capture_output=True)
    return _read_wav(out)


def synthesize_call(script: CallScript, out_dir: Path) -> dict:
    """Render one call into `out_dir` and return its truth document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(script.seed)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=4) as pool:
        clips = list(pool.map(
            lambda iu: _synthesize_utterance(iu[1].text, script.voices[iu[1].speaker], Path(tmp), iu[0]),
            enumerate(script.utterances)))
    # Natural gaps: longer at a change of speaker, shorter within one speaker's turn.
    t, previous, timed = 1.0, None, []
    for i, (u, clip) in enumerate(zip(script.utterances, clips, strict=True)):
        if previous is not None:
            t += rng.uniform(0.5, 1.3) if u.speaker != previous else rng.uniform(0.25, 0.5)
        duration = len(clip) / SAMPLE_RATE
        timed.append({"id": i, "speaker": u.speaker, "start": round(t, 3), "end": round(t + duration, 3),
                      "text": u.text, "phase": u.phase, "sentiment": u.sentiment})
        t += duration
        previous = u.speaker
    n = int((t + 1.0) * SAMPLE_RATE) + 1
    channels = np.zeros((2, n), np.float32)
    for seg, clip in zip(timed, clips, strict=True):
        s0 = int(seg["start"] * SAMPLE_RATE)
        channels[CHANNEL_OF_ROLE[seg["speaker"]], s0:s0 + len(clip)] += clip
    channels += rng.normal(0, 0.003, (2, n)).astype(np.float32)  # ~ -50 dBFS noise floor
    mono = 0.5 * (channels[0] + channels[1]) * 1.6
    write_wav(out_dir / "mono.wav", mono)
    write_wav(out_dir / "stereo.wav", channels.T)
    subprocess.run(["lame", "--quiet", "-b", "64", str(out_dir / "mono.wav"), str(out_dir / "mono.mp3")], check=True)
    truth = {"id": script.id, "title": script.title, "sample_rate": SAMPLE_RATE, "duration": round(n / SAMPLE_RATE, 3),
             "channels": {"left": "agent", "right": "customer"}, "roles": script.raw.get("roles", {}),
             "voices": script.voices, "utterances": timed, "action_items": script.raw.get("action_items", []),
             "digest": script.digest}
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def ensure_call(script: CallScript, out_root: Path, force: bool = False) -> Path:
    """Generate the call unless `out_root/<id>` already holds the audio for the same script hash."""
    out_dir = out_root / script.id
    marker = out_dir / ".digest"
    expected = ["mono.wav", "stereo.wav", "mono.mp3", "truth.json"]
    if not force and marker.exists() and marker.read_text() == script.digest \
            and all((out_dir / f).exists() for f in expected):
        return out_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    synthesize_call(script, out_dir)
    marker.write_text(script.digest)
    return out_dir


def ensure_error_samples(out_root: Path) -> Path:
    """Inputs for the error paths: no speech, too short (< 160 ms), and a file that is not audio."""
    d = out_root / "_errors"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    if not (d / "silence.wav").exists():
        write_wav(d / "silence.wav", rng.normal(0, 0.002, 2 * SAMPLE_RATE).astype(np.float32))
    if not (d / "too_short.wav").exists():
        write_wav(d / "too_short.wav", rng.normal(0, 0.002, SAMPLE_RATE // 10).astype(np.float32))
    if not (d / "not_audio.txt").exists():
        (d / "not_audio.txt").write_text("This is a plain text file, not a recording.\n" * 20)
    return d


def generate(out_root: Path, call_ids: list[str] | None = None, force: bool = False) -> dict[str, Path]:
    scripts = available_scripts()
    unknown = set(call_ids or []) - set(scripts)
    if unknown:
        raise SystemExit(f"unknown call id(s): {', '.join(sorted(unknown))}; available: {', '.join(scripts)}")
    for tool in ("espeak-ng", "sox", "lame"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y espeak-ng sox libsox-fmt-mp3 lame")
    result = {cid: ensure_call(scripts[cid], out_root, force) for cid in (call_ids or list(scripts))}
    result["_errors"] = ensure_error_samples(out_root)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--call", action="append", help="call id (repeatable); default: all scripts")
    parser.add_argument("--force", action="store_true", help="regenerate even if the cached hash matches")
    args = parser.parse_args(argv)
    for cid, path in generate(args.out, args.call, args.force).items():
        if cid == "_errors":
            print(f"{cid}: {path}")
            continue
        truth = json.loads((path / "truth.json").read_text())
        print(f"{cid}: {path} ({truth['duration']:.1f} s, {len(truth['utterances'])} utterances)")


if __name__ == "__main__":
    main()
