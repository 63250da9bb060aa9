"""Row 8: mono diarization on a varied corpus with known truth (samples/diarization_corpus.py).

Ours: the local server's real transcribe path, `SpeechEngine` (default model tiny.en, default settings) with
`TranscribeOptions(diarize=True)` and no `speakers_expected` (what the default profile sends), i.e. the
word-level diarizer in local_assemblyai/diarization.py. Baseline: the previous method (pause-delimited
chunks, median F0, 1-D k-means: `diarization.pause_pitch_words`) on the same engine words and audio.

Per call: speaker-word accuracy (each word's truth = the utterance containing its midpoint; best one-to-one
label mapping) and the utterance count (runs of one speaker, as the API's `utterances`) against the truth
turns. Summary rows: the minimum and mean accuracy, the largest turn-count error, and the diarizer's own
real-time factor (diarization seconds / audio seconds; Whisper excluded). The judge's target: >= 90 % of
words on the right speaker on every call and the turn count within 20 %. --smoke: one short call.
"""

from __future__ import annotations

import json
import subprocess
import time

from bench.core import Context, Row, Unavailable

TITLE = "mono diarization: speaker-word accuracy / turns"
IN_SMOKE = True
MODEL = "tiny.en"  # the server's default speech_model


def _corpus(ctx: Context) -> list[tuple[str, object, dict]]:
    try:
        from samples.diarization_corpus import SMOKE_CALL, generate
    except ImportError as exc:
        raise Unavailable(f"needs samples.diarization_corpus ({exc})") from None
    out = ctx.work_dir / "diarization-corpus"
    ctx.log(f"generating the diarization corpus into {out} (cached)")
    try:
        dirs = generate(out, [SMOKE_CALL] if ctx.smoke else None)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        raise Unavailable(f"corpus generation failed: {exc}") from None
    return [(cid, path / "mono.wav", json.loads((path / "truth.json").read_text())) for cid, path in dirs.items()]


def run(ctx: Context) -> list[Row]:
    try:
        from local_assemblyai import audio as audio_mod
        from local_assemblyai.diarization import diarize_words, pause_pitch_words
        from local_assemblyai.models import ModelUnavailable
        from local_assemblyai.stt import SpeechEngine, TranscribeOptions
        from samples.diarization_corpus import score
    except ImportError as exc:
        raise Unavailable(f"needs local_assemblyai + samples ({exc})") from None
    corpus = _corpus(ctx)
    engine = SpeechEngine(MODEL, ctx.work_dir / "stt-diarization")
    try:
        engine.load()
    except ModelUnavailable as exc:
        raise Unavailable(f"speech model {MODEL}: {exc}") from None
    rows: list[Row] = []
    results = []
    diar_s = audio_s = 0.0
    for cid, wav, truth in corpus:
        ctx.log(f"transcribing {cid} ({truth['duration']:.0f} s, {len(truth['speakers'])} speakers)")
        result = engine.transcribe_file(wav, TranscribeOptions(diarize=True))  # the server's path (STT cached)
        words = result.words
        mono = audio_mod.decode(str(wav)).mono()
        t0 = time.perf_counter()
        again = diarize_words(words, mono)  # timed on its own: the diarizer's share of the decode
        diar_s += time.perf_counter() - t0
        audio_s += result.audio_duration
        if again != [w["speaker"] for w in words]:
            raise AssertionError(f"{cid}: diarization is not deterministic (cached engine result differs)")
        old = [dict(w, speaker=s) for w, s in zip(words, pause_pitch_words(words, mono), strict=True)]
        ours, base = score(words, truth), score(old, truth)
        results.append({"call": cid, "ours": ours, "baseline": base})
        rows.append(Row(f"diarization {cid}: speaker-word accuracy", base["accuracy"] * 100, ours["accuracy"] * 100,
                        "%", f"{ours['words']} words, {ours['speakers_true']} true speakers; found "
                        f"{base['speakers_found']} -> {ours['speakers_found']}"))
        rows.append(Row(f"diarization {cid}: utterances (truth {ours['turns']} turns)", base["utterances"],
                        ours["utterances"], "", f"turn-count error {base['turn_error']:.0%} -> "
                        f"{ours['turn_error']:.0%}; {ours['ceiling_turns']} turns in the recognised words' "
                        "truth labels", digits=0))
    (ctx.work_dir / "diarization-last.json").write_text(json.dumps(results, indent=1))

    def agg(side: str, key: str, fn) -> float:
        return fn(r[side][key] for r in results)

    n = len(results)
    rows += [
        Row("diarization: min speaker-word accuracy", agg("baseline", "accuracy", min) * 100,
            agg("ours", "accuracy", min) * 100, "%", f"over {n} call(s); target >= 90 % on every call"),
        Row("diarization: mean speaker-word accuracy", agg("baseline", "accuracy", sum) / n * 100,
            agg("ours", "accuracy", sum) / n * 100, "%", f"over {n} call(s), unweighted"),
        Row("diarization: max turn-count error", agg("baseline", "turn_error", max) * 100,
            agg("ours", "turn_error", max) * 100, "%", "|utterances - truth turns| / truth turns; target <= 20 %"),
        Row("diarization: real-time factor (diarizer only)", None, diar_s / audio_s, "",
            f"{diar_s:.2f} s for {audio_s:.0f} s audio, Whisper excluded", digits=4),
    ]
    return rows
