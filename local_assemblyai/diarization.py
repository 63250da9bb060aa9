"""Simple mono diarization: pause-delimited chunks clustered by voice pitch.

Method (documented in docs/local-assemblyai.md):
1. Words are grouped into chunks separated by pauses >= `gap_seconds` (a pause is where a turn
   change can happen; speakers rarely switch mid-phrase without one).
2. For each chunk the median fundamental frequency (F0) is estimated by normalised
   autocorrelation on voiced 40 ms frames (60-400 Hz).
3. log(F0) values are clustered with a deterministic 1-D k-means (k = speakers_expected, default 2).
   If the cluster centres are closer than `min_separation` (about 9 % pitch difference), everything
   is one speaker - better an honest "A" than an arbitrary split.
4. Chunks without enough voiced frames take the label of the nearest labelled chunk in time.

Limits: speakers with similar pitch merge into one; overlapping speech and turn changes without a
pause are not split; very short chunks are unreliable. Stereo recordings avoid all of this
(one speaker per channel), so prefer `multichannel` when the telephony source allows it.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000


def estimate_f0(samples: np.ndarray, sr: int = SAMPLE_RATE) -> float | None:
    """Median F0 in Hz over voiced frames, or None if too little is voiced."""
    frame, hop = int(0.04 * sr), int(0.01 * sr)
    if len(samples) < frame:
        return None
    n = 1 + (len(samples) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    frames = samples[idx].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    energy = (frames ** 2).mean(axis=1)
    loud = energy > max(1e-6, 0.1 * float(np.percentile(energy, 90)))
    frames = frames[loud]
    if len(frames) < 5:
        return None
    frames *= np.hanning(frame)[None, :]
    spec = np.fft.rfft(frames, n=2 * frame, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :frame]
    ac /= np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(sr / 400), int(sr / 60)
    lags = np.argmax(ac[:, lo:hi], axis=1) + lo
    peak = ac[np.arange(len(ac)), lags]
    voiced = peak > 0.45
    if voiced.sum() < 5:
        return None
    return float(np.median(sr / lags[voiced]))


def _kmeans_1d(values: np.ndarray, k: int, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    centres = np.quantile(values, np.linspace(0.1, 0.9, k))  # deterministic initialisation
    labels = np.zeros(len(values), dtype=int)
    for _ in range(iterations):
        labels = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        new = np.array([values[labels == j].mean() if np.any(labels == j) else centres[j] for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return labels, centres


def diarize_words(words: list[dict], samples: np.ndarray, speakers_expected: int | None = None) -> list[str]:
    return pause_pitch_words(words, samples, speakers_expected)


def pause_pitch_words(words: list[dict], samples: np.ndarray, speakers_expected: int | None = None,
                          gap_seconds: float = 0.3, min_separation: float = 0.09) -> list[str]:
    """Return one speaker letter per word (words carry `start`/`end` in ms)."""
    if not words:
        return []
    chunks: list[list[int]] = [[0]]
    for i in range(1, len(words)):
        if words[i]["start"] - words[i - 1]["end"] >= gap_seconds * 1000:
            chunks.append([i])
        else:
            chunks[-1].append(i)
    k = max(1, int(speakers_expected or 2))
    f0: list[float | None] = []
    for chunk in chunks:
        s = int(words[chunk[0]]["start"] * SAMPLE_RATE / 1000)
        e = int(words[chunk[-1]]["end"] * SAMPLE_RATE / 1000)
        f0.append(estimate_f0(samples[s:e]))
    known = [i for i, v in enumerate(f0) if v]
    chunk_label = [0] * len(chunks)
    if k > 1 and len(known) >= k:
        values = np.log(np.array([f0[i] for i in known]))
        labels, centres = _kmeans_1d(values, k)
        if np.min(np.diff(np.sort(centres))) >= min_separation:
            for i, lab in zip(known, labels, strict=True):  # one k-means label per known value
                chunk_label[i] = int(lab)
            for i in range(len(chunks)):
                if not f0[i]:  # unvoiced/short chunk: nearest labelled chunk in time
                    nearest = min(known, key=lambda j: abs(j - i))
                    chunk_label[i] = chunk_label[nearest]
    # Letters by order of first appearance: the first voice heard is "A".
    order: dict[int, str] = {}
    for lab in chunk_label:
        order.setdefault(lab, chr(ord("A") + len(order)))
    out: list[str] = []
    for chunk, lab in zip(chunks, chunk_label, strict=True):
        out.extend(order[lab] for _ in chunk)
    return out
