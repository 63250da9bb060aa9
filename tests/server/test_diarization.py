"""Mono diarization (local_assemblyai.diarization): word-level speaker changes on synthetic voices with known
change points, and a quality gate on generated corpus calls through the server's real SpeechEngine path."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from local_assemblyai.diarization import SAMPLE_RATE, diarize_words
from samples.diarization_corpus import available_calls, count_turns, generate, score, speaker_at, synthesize

# Test voices: espeak-ng words (deterministic), one clip per word, laid out with chosen pauses so every word's
# true speaker and time are exact. Two espeak voices far apart in pitch plus a third in between.
VOICES = {"low": {"engine": "espeak", "voice": "en-us+m3", "pitch": 30, "speed": 170, "gain": 1.0},
          "high": {"engine": "espeak", "voice": "en-gb-x-rp+f2", "pitch": 70, "speed": 160, "gain": 0.9},
          "mid": {"engine": "espeak", "voice": "en-us+m1", "pitch": 90, "speed": 180, "gain": 1.0},
          # the low voice with its pitch dropped: a sentence-final fall (same timbre, ~20 % lower)
          "low_fall": {"engine": "espeak", "voice": "en-us+m3", "pitch": 5, "speed": 150, "gain": 1.0}}
VOCABULARY = ("okay", "thanks", "account", "number", "tomorrow", "morning", "payment", "delivery", "address",
              "because", "really", "problem", "service", "yesterday", "question", "minutes", "order", "window")
_CLIPS: dict[tuple[str, str], np.ndarray] = {}


def _clip(voice: str, word: str, tmp: Path) -> np.ndarray:
    if (voice, word) not in _CLIPS:
        _CLIPS[(voice, word)] = synthesize(word, VOICES[voice], tmp, len(_CLIPS))
    return _CLIPS[(voice, word)]


def _call(plan: list[tuple], word_gap: float = 0.04, turn_gap: float = 0.15, seed: int = 1,
          interjection: str | None = None) -> tuple[list[dict], np.ndarray, list[str]]:
    """plan: (voice, number of words[, pause before the turn]) per turn -> (words with ms times, audio, true
    voice per word). One-word turns say `interjection` (default "okay")."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("needs espeak-ng and sox")
    rng = np.random.default_rng(seed)
    pieces, words, truth, t = [np.zeros(int(0.5 * SAMPLE_RATE))], [], [], 0.5
    with tempfile.TemporaryDirectory() as tmp:
        for turn, (voice, n_words, *before) in enumerate(plan):
            for i in range(n_words):
                gap = (before[0] if before else turn_gap) if (i == 0 and turn > 0) else (word_gap if i > 0 else 0.0)
                pieces.append(np.zeros(int(gap * SAMPLE_RATE)))
                t += gap
                word = (interjection or "okay") if n_words == 1 else VOCABULARY[rng.integers(len(VOCABULARY))]
                clip = _clip(voice, word, Path(tmp))
                words.append({"text": word, "start": round(t * 1000),
                              "end": round((t + len(clip) / SAMPLE_RATE) * 1000)})
                truth.append(voice)
                pieces.append(clip)
                t += len(clip) / SAMPLE_RATE
    pieces.append(np.zeros(int(0.5 * SAMPLE_RATE)))
    audio = np.concatenate(pieces)
    audio = (audio + rng.normal(0, 0.003, len(audio))).astype(np.float32)
    return words, audio, truth


def _mapped(labels: list[str], truth: list[str]) -> list[str]:
    """Truth voice names as letters by first appearance (what the diarizer promises)."""
    order: dict[str, str] = {}
    for v in truth:
        order.setdefault(v, chr(ord("A") + len(order)))
    return [order[v] for v in truth]


def test_empty_input_gives_no_labels():
    assert diarize_words([], np.zeros(SAMPLE_RATE, np.float32)) == []


def test_speaker_change_inside_one_pause_free_stretch_is_found():
    # Given two voices, back to back with only 40 ms between all words (one Whisper segment, no pause to cut at)
    words, audio, truth = _call([("low", 8), ("high", 8)], word_gap=0.04, turn_gap=0.04)
    # When diarized
    labels = diarize_words(words, audio)
    # Then exactly one change is found, at the true word boundary or one word next to it (a word-level decision
    # on Whisper-like word spans: the boundary word may go to either side)
    changes = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    assert len(changes) == 1 and abs(changes[0] - 8) <= 1, labels
    assert labels[:7] == ["A"] * 7 and labels[-7:] == ["B"] * 7


def test_turns_alternating_over_the_call_keep_consistent_labels():
    # Given four turns each of two voices, first voice heard = the high one
    words, audio, truth = _call([("high", 6), ("low", 7), ("high", 5), ("low", 6), ("high", 6), ("low", 5),
                                 ("high", 4), ("low", 6)], turn_gap=0.12)
    # When diarized
    labels = diarize_words(words, audio)
    # Then every turn of one voice has the same letter, "A" for the voice heard first
    assert labels == _mapped(labels, truth)
    assert labels[0] == "A" and set(labels) == {"A", "B"}
    assert count_turns(labels) == 8


def test_one_word_interjection_keeps_its_own_label():
    # Given a long turn, a reply, a long turn broken by a one-word "okay" of the other voice (120 ms pauses)
    words, audio, truth = _call([("low", 10), ("high", 5), ("low", 8), ("high", 1), ("low", 8)], turn_gap=0.12)
    # When diarized
    labels = diarize_words(words, audio)
    # Then the single word is the other speaker, not absorbed by its neighbours
    interjection = 10 + 5 + 8
    assert labels[interjection] == labels[10] != labels[interjection - 1] == labels[interjection + 1]
    assert labels == _mapped(labels, truth)


def test_a_single_voice_stays_one_speaker():
    # Given one voice only (its own pitch contour and vowels vary), over several pause-separated phrases
    words, audio, _ = _call([("mid", 9), ("mid", 7), ("mid", 11), ("mid", 6)], turn_gap=0.4, seed=5)
    # When diarized without a speaker count
    labels = diarize_words(words, audio)
    # Then everything is speaker A (no arbitrary split)
    assert set(labels) == {"A"}


def test_three_voices_are_told_apart_with_and_without_a_speaker_count():
    # Given three voices taking turns
    plan = [("low", 6), ("high", 6), ("mid", 6), ("low", 5), ("mid", 5), ("high", 6), ("low", 6)]
    words, audio, truth = _call(plan, turn_gap=0.15, seed=3)
    for expected in (3, None):
        # When diarized with speakers_expected=3 and with no count
        labels = diarize_words(words, audio, expected)
        # Then each voice has its own, consistent letter
        assert labels == _mapped(labels, truth), expected


def test_sentence_final_pitch_falls_glued_to_a_phrase_are_not_a_third_speaker():
    # Given two voices taking turns, where the low voice ends each of its phrases on a much lower pitch, glued to
    # the phrase (30 ms): one voice's sentence-final falls, not a speaker of their own
    plan = [("high", 6, 0.5), ("low", 5, 0.5), ("low_fall", 1, 0.03), ("low", 4, 0.3), ("low_fall", 1, 0.03)] * 4
    words, audio, truth = _call(plan, seed=7)
    truth = ["low" if v == "low_fall" else v for v in truth]
    # When diarized without a speaker count
    labels = diarize_words(words, audio)
    # Then there are two speakers, and every word of the low voice (falls included) has one label
    assert labels == _mapped(labels, truth)


def test_pause_free_pairs_flags_clusters_that_alternate_inside_phrases():
    from local_assemblyai.diarization import _pause_free_pairs

    # Given labels where 1 <-> 2 alternate with no pause and 0 <-> others change after pauses
    labels = np.array([0, 0, 1, 1, 2, 1, 1, 2, 0, 0, 1, 2])
    pause = np.array([0, .02, .6, .01, .0, .02, .03, .01, .7, .02, .5, .0])
    # Then only the pause-free pair is flagged
    assert _pause_free_pairs(labels, pause) == [(1, 2)]
    # Given two clusters changing at pauses (tight real turns), once without one and once at 60 ms in six changes
    turns = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1])
    gaps = np.array([0, .02, .3, .0, .12, .06, .25, .01, .14])
    # Then nothing is flagged
    assert _pause_free_pairs(turns, gaps) == []
    # Given four changes of which two are at 60-70 ms: flagged (half of the changes are inside a phrase)
    assert _pause_free_pairs(np.array([0, 1, 0, 1, 0]), np.array([0, .06, .3, .07, .4])) == [(0, 1)]


def test_score_uses_the_best_label_mapping():
    truth = {"utterances": [{"speaker": "x", "start": 0.0, "end": 1.0}, {"speaker": "y", "start": 1.1, "end": 2.0}],
             "turns": 2, "speakers": {"x": "v1", "y": "v2"}}
    words = [{"start": 100, "end": 300, "speaker": "B"}, {"start": 500, "end": 900, "speaker": "B"},
             {"start": 1200, "end": 1500, "speaker": "A"}, {"start": 1600, "end": 1900, "speaker": "B"}]
    result = score(words, truth)
    assert result["accuracy"] == 0.75 and result["utterances"] == 3 and result["turns"] == 2


# -- quality gate on generated calls (real Whisper words, the server's SpeechEngine path) --------------------
#: a neural-voice pair, the hardest espeak pair, the default sample voices on a short angry call (its
#: sentence-final falls once made a spurious third speaker) and the default customer voice alone (once two)
GATE_CALLS = ("dz_piper_dentist", "dz_espeak_males", "dz_espeak_default_short", "dz_single_default_customer")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    pytest.importorskip("piper", reason="the corpus's neural voices need piper-tts (requirements.txt)")
    return generate(tmp_path_factory.mktemp("dz-corpus"), list(GATE_CALLS))


@pytest.mark.parametrize("call_id", GATE_CALLS)
def test_corpus_call_meets_the_accuracy_and_turn_targets(corpus, stt_cache, call_id):
    import json

    from local_assemblyai.stt import SpeechEngine, TranscribeOptions

    assert call_id in available_calls()
    truth = json.loads((corpus[call_id] / "truth.json").read_text())
    # When the engine transcribes the mono call with diarization, as the server does for speaker_labels
    result = SpeechEngine("tiny.en", stt_cache).transcribe_file(corpus[call_id] / "mono.wav",
                                                               TranscribeOptions(diarize=True))
    s = score(result.words, truth)
    # Then >= 90 % of words are on the right speaker and the utterance count is within 20 % of the turns
    assert s["accuracy"] >= 0.90, s
    assert s["turn_error"] <= 0.20, s
    assert s["speakers_found"] == len(truth["speakers"]), s


def test_escalation_call_with_the_default_voices_has_two_speakers(stt_cache, tmp_path):
    # Given the escalation fixture rendered with the sample generator's default espeak voices (short, emphatic
    # customer sentences: the falls on "twice.", "service.", "manager." once became a third speaker)
    fixture = Path(__file__).resolve().parents[1] / "integration" / "fixtures" / "escalation_call.json"
    if not fixture.exists() or shutil.which("espeak-ng") is None or shutil.which("lame") is None:
        pytest.skip("needs the escalation fixture, espeak-ng and lame")
    import json

    from local_assemblyai.stt import SpeechEngine, TranscribeOptions
    from samples.generate import ensure_call, load_script

    call = ensure_call(load_script(fixture), tmp_path)
    truth = json.loads((call / "truth.json").read_text())
    # When transcribed with diarization and no speaker count, as the server does for speaker_labels
    words = SpeechEngine("tiny.en", stt_cache).transcribe_file(call / "mono.wav", TranscribeOptions(diarize=True)).words
    # Then two speakers, and every customer word carries the customer's one label
    by_role: dict[str, set[str]] = {}
    for w in words:
        by_role.setdefault(speaker_at(truth, (w["start"] + w["end"]) / 2000), set()).add(w["speaker"])
    assert len({w["speaker"] for w in words}) == 2, words
    assert len(by_role["customer"]) == 1 and by_role["customer"] != by_role["agent"], by_role
