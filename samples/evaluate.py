"""Measure the offline engines on the sample corpus: WER and real-time factor of faster-whisper,
phase time-weighted accuracy and sentiment accuracy of the offline analyzers.

    python -m samples.evaluate --samples DIR [--model tiny.en|base] [--cache DIR] [--json OUT]

The STT cache is bypassed (a fresh temporary cache) unless --cache is given, so RTF is a real decode.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np

from local_assemblyai import rendering
from local_assemblyai.analyzers.phases import analyze_phases
from local_assemblyai.analyzers.sentiment import score_lines
from local_assemblyai.stt import SpeechEngine, TranscribeOptions
from local_assemblyai.text_encoder import shared_encoder
from local_assemblyai.transcript_parse import Line, lines_from_utterances

from .generate import generate
from .textnorm import normalize

PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]


def wer(hyp: str, ref: str) -> float:
    return round(jiwer.wer(normalize(ref), normalize(hyp)), 4)


def phase_accuracy(phases: list[dict], truth: dict) -> float:
    """Share of spoken time (truth utterance spans, 10 ms grid) whose predicted phase is right."""
    right = total = 0
    for u in truth["utterances"]:
        for t in np.arange(u["start"], u["end"], 0.01):
            total += 1
            pred = next((p["name"] for p in phases if p["start_time"] <= t < p["end_time"]),
                        phases[-1]["name"] if phases and t >= phases[-1]["end_time"] else phases[0]["name"])
            right += pred == u["phase"]
    return round(right / max(1, total), 3)


def evaluate(samples: Path, model: str, cache: Path | None) -> dict:
    encoder = shared_encoder()
    with tempfile.TemporaryDirectory() as tmp:
        engine = SpeechEngine(model, cache or Path(tmp))
        t0 = time.perf_counter()
        engine.load()
        report: dict = {"model": model, "load_seconds": round(time.perf_counter() - t0, 2), "calls": {}}
        for call in sorted(p for p in samples.iterdir() if (p / "truth.json").exists()):
            truth = json.loads((call / "truth.json").read_text())
            ref = " ".join(u["text"] for u in truth["utterances"])
            row: dict = {"duration_s": truth["duration"]}
            for name, file, opts in (("mono", "mono.wav", TranscribeOptions(diarize=True)),
                                     ("mp3", "mono.mp3", TranscribeOptions()),
                                     ("stereo", "stereo.wav", TranscribeOptions(per_channel=True))):
                res = engine.transcribe_file(call / file, opts)
                hyp = " ".join(w["text"] for w in res.words)
                row[name] = {"wer": wer(hyp, ref), "rtf": round(res.decode_seconds / res.audio_duration, 3),
                             "cached": res.cached}
                if name in ("mono", "stereo"):
                    utts = rendering.utterances(res.words)
                    phases = analyze_phases(lines_from_utterances(utts), PHASES, encoder)
                    row[name]["phase_accuracy"] = phase_accuracy(phases, truth)
                    speakers = [u["speaker"] for u in utts]
                    row[name]["speakers"] = sorted({s for s in speakers if s})
            gold = [Line(u["start"], u["end"], u["speaker"], u["text"]) for u in truth["utterances"]]
            gold_phases = analyze_phases(gold, PHASES, encoder)
            row["phase_accuracy_on_script"] = phase_accuracy(gold_phases, truth)
            scored = score_lines(gold, encoder)
            row["sentiment_accuracy_on_script"] = round(
                sum(s.label == u["sentiment"] for s, u in zip(scored, truth["utterances"], strict=True)) / len(scored),
                3)
            report["calls"][truth["id"]] = row
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, required=True, help="output dir of samples.generate (made if absent)")
    parser.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    parser.add_argument("--cache", type=Path, help="reuse an STT cache (RTF then reflects cache hits)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    generate(args.samples)
    report = evaluate(args.samples, args.model, args.cache)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
