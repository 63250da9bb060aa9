"""Free-form prompts: a clearly labelled extractive answer (no language model is available offline)."""

from __future__ import annotations

import numpy as np

from ..text_encoder import MiniLMEncoder
from ..transcript_parse import Line
from .common import format_line, split_sentences

LABEL = "[offline extractive answer]"


def extractive_answer(instruction: str, lines: list[Line], encoder: MiniLMEncoder, max_items: int = 3) -> str:
    """The lines most similar to the instruction (or, without lines, the most central sentences
    of the text), in their original order."""
    if lines:
        texts = [format_line(ln) for ln in lines]
        emb = encoder.encode([ln.text for ln in lines])
        query = encoder.encode([instruction])[0] if instruction.strip() else emb.mean(axis=0)
        relevance = emb @ query + 0.5 * (emb @ emb.mean(axis=0))
    else:
        texts = split_sentences(instruction)
        if not texts:
            return f"{LABEL} (no text to answer from)"
        emb = encoder.encode(texts)
        relevance = emb @ emb.mean(axis=0)
    chosen = sorted(np.argsort(-relevance)[:max_items].tolist())
    return f"{LABEL} " + " ".join(texts[i] for i in chosen)


def summarize_text(text: str, encoder: MiniLMEncoder, max_sentences: int = 2) -> str:
    """A labelled extractive summary of a short text (e.g. one streaming turn)."""
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return f"{LABEL} {text.strip()}" if text.strip() else f"{LABEL} (empty turn)"
    emb = encoder.encode(sentences)
    chosen = sorted(np.argsort(-(emb @ emb.mean(axis=0)))[:max_sentences].tolist())
    return f"{LABEL} " + " ".join(sentences[i] for i in chosen)
