"""The benchmark corpus: the sample calls (samples/, ground truth) and their transcripts made by the local
server's engine, exactly as the pipeline stores them (transcript JSON + the VTT of GET /vtt)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aai import shared_server
from bench.core import Context, Unavailable

#: --smoke uses only the shortest call
SMOKE_CALLS = ("fabrikam_billing_question",)

#: what start_call asks for with the default profile on a mono recording (speaker_labels, no multichannel)
DEFAULT_TRANSCRIPT_PARAMS = {"speaker_labels": True, "punctuate": True, "format_text": True}


@dataclass
class SampleCall:
    id: str
    dir: Path
    truth: dict[str, Any]

    @property
    def mono(self) -> Path:
        return self.dir / "mono.wav"

    @property
    def duration(self) -> float:
        return float(self.truth["duration"])

    @property
    def reference_text(self) -> str:
        return " ".join(u["text"] for u in self.truth["utterances"])


@dataclass
class TranscribedCall:
    call: SampleCall
    transcript: dict[str, Any]   # GET /v2/transcript/{id}, completed
    vtt: str                     # GET /v2/transcript/{id}/vtt

    @property
    def transcript_id(self) -> str:
        return self.transcript["id"]


def sample_calls(ctx: Context) -> list[SampleCall]:
    def build() -> list[SampleCall]:
        try:
            from samples.generate import generate
        except ImportError as exc:
            raise Unavailable(f"needs samples.generate ({exc})") from None
        out = ctx.work_dir / "samples"
        ids = list(SMOKE_CALLS) if ctx.smoke else None
        ctx.log(f"generating sample calls into {out} (cached)")
        try:
            dirs = generate(out, ids)
        except (OSError, RuntimeError) as exc:  # espeak-ng / sox missing or failing
            raise Unavailable(f"sample generation failed: {exc}") from None
        calls = []
        for call_id, path in sorted(dirs.items()):
            truth_file = Path(path) / "truth.json"
            if call_id.startswith("_") or not truth_file.exists():
                continue
            calls.append(SampleCall(call_id, Path(path), json.loads(truth_file.read_text())))
        if not calls:
            raise Unavailable(f"no sample calls in {out}")
        return calls

    return ctx.memo("sample_calls", build)


def transcribed_calls(ctx: Context) -> list[TranscribedCall]:
    """Each sample call transcribed by the local server (default engine), like start_call would ask."""

    def build() -> list[TranscribedCall]:
        calls = sample_calls(ctx)
        server = shared_server(ctx)
        out = []
        for call in calls:
            ctx.log(f"transcribing {call.id} ({call.duration:.0f} s) with the local server")
            transcript = server.transcribe(call.mono, DEFAULT_TRANSCRIPT_PARAMS)
            out.append(TranscribedCall(call, transcript, server.vtt(transcript["id"])))
        cache = ctx.work_dir / "transcripts"
        cache.mkdir(parents=True, exist_ok=True)
        for t in out:  # kept for inspection (the STT cache makes the next run fast anyway)
            (cache / f"{t.call.id}.json").write_text(json.dumps(t.transcript, indent=1))
            (cache / f"{t.call.id}.vtt").write_text(t.vtt)
        return out

    return ctx.memo("transcribed_calls", build)
