"""Row 4: the offline speech engine, faster-whisper tiny.en (ours: the local server's default `speech_model`)
against base (baseline: the larger model the engine research recommended as the accuracy default).

Both through the local server's SpeechEngine with its default settings (int8, beam 5, VAD, word timestamps,
mono + diarization as for the default profile), on the sample calls' mono.wav. Each decode is real: the
engine's result cache entry is removed first. RTF = decode seconds / audio seconds (model load excluded,
reported in the note). WER with jiwer after samples.textnorm.normalize (numbers to words, punctuation
stripped), pooled over the corpus (total errors / total reference words). --smoke: the first utterances
(<= 15 s) of the shortest call, reference cut the same way.
"""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

from bench.core import Context, Row, Unavailable
from bench.corpus import sample_calls

TITLE = "offline engine RTF / WER"
IN_SMOKE = True
BASELINE_MODEL, OUR_MODEL = "base", "tiny.en"
SMOKE_CLIP_SECONDS = 15.0


def _clip(src: Path, dst: Path, seconds: float) -> None:
    with wave.open(str(src)) as r:
        frames = r.readframes(int(seconds * r.getframerate()))
        params = r.getparams()
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(frames)


def _inputs(ctx: Context) -> list[tuple[str, Path, str]]:
    """(label, wav, reference text)."""
    calls = sample_calls(ctx)
    if not ctx.smoke:
        return [(c.id, c.mono, c.reference_text) for c in calls]
    call = min(calls, key=lambda c: c.duration)
    kept = [u for u in call.truth["utterances"] if u["end"] <= SMOKE_CLIP_SECONDS]
    end = kept[-1]["end"] + 0.3 if kept else SMOKE_CLIP_SECONDS
    clip = ctx.work_dir / "clips" / f"{call.id}-{end:.1f}s.wav"
    clip.parent.mkdir(parents=True, exist_ok=True)
    _clip(call.mono, clip, end)
    return [(f"{call.id} first {end:.1f} s", clip, " ".join(u["text"] for u in kept))]


def _measure(ctx: Context, model: str, inputs: list[tuple[str, Path, str]]) -> dict:
    import jiwer

    from local_assemblyai.models import ModelUnavailable
    from local_assemblyai.stt import SpeechEngine, TranscribeOptions, _sha256_of
    from samples.textnorm import normalize

    engine = SpeechEngine(model, ctx.work_dir / "stt-bench")
    t0 = time.perf_counter()
    try:
        engine.load()
    except ModelUnavailable as exc:
        raise Unavailable(f"speech model {model}: {exc}") from None
    load_s = time.perf_counter() - t0
    options = TranscribeOptions(diarize=True)
    decode_s = audio_s = 0.0
    refs, hyps = [], []
    for label, wav, reference in inputs:
        ctx.log(f"decoding {label} with {model}")
        cached = engine.cache_dir / "stt" / f"{engine.cache_key(_sha256_of(wav), options)}.json"
        cached.unlink(missing_ok=True)
        result = engine.transcribe_file(wav, options)
        decode_s += result.decode_seconds
        audio_s += result.audio_duration
        refs.append(normalize(reference))
        hyps.append(normalize(" ".join(w["text"] for w in result.words)))
    wer = jiwer.wer(refs, hyps)  # pooled over the corpus
    return {"load_s": load_s, "rtf": decode_s / audio_s, "wer": wer, "audio_s": audio_s}


def run(ctx: Context) -> list[Row]:
    try:
        import jiwer  # noqa: F401

        import local_assemblyai.stt  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"needs local_assemblyai + jiwer ({exc})") from None
    inputs = _inputs(ctx)
    base = _measure(ctx, BASELINE_MODEL, inputs)
    tiny = _measure(ctx, OUR_MODEL, inputs)
    what = (f"{len(inputs)} file(s), {tiny['audio_s']:.0f} s audio" if not ctx.smoke else inputs[0][0])
    (ctx.work_dir / "stt-last.json").write_text(json.dumps({"inputs": [i[0] for i in inputs], BASELINE_MODEL: base,
                                                            OUR_MODEL: tiny}, indent=1))
    return [
        Row(f"STT real-time factor ({BASELINE_MODEL} -> {OUR_MODEL})", base["rtf"], tiny["rtf"], "",
            f"decode s / audio s, mono + diarization, int8, beam 5, {what}; model load {base['load_s']:.1f} s vs "
            f"{tiny['load_s']:.1f} s (excluded); baseline = base, ours = tiny.en (server default)", digits=3),
        Row(f"STT word error rate ({BASELINE_MODEL} -> {OUR_MODEL})", base["wer"] * 100, tiny["wer"] * 100, "%",
            f"jiwer, pooled, samples.textnorm normalisation; espeak-ng voices (harsh for ASR); {what}", digits=1),
    ]
