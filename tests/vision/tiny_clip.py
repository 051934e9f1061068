"""A tiny CLIP-shaped text model and a LAION-layout folder generator for the embedding tests.

`TinyClip.encode_text(tokenizer(texts))` has open_clip's interface: a text's vector is the sum
of fixed random vectors of its words, so the prompt set's classes get distinct directions and a
synthetic "picture" near a class's direction scores as that class.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DIM = 768
VOCAB = 4096
MAX_TOKENS = 16


class TinyTokenizer:
    """`tokenizer(list[str]) -> (n, MAX_TOKENS) int array` (0 = padding), like open_clip's."""

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), MAX_TOKENS), np.int64)
        for i, t in enumerate(texts):
            words = t.lower().replace(".", " ").split()[:MAX_TOKENS]
            for j, w in enumerate(words):
                out[i, j] = 1 + zlib.crc32(w.encode()) % (VOCAB - 1)
        return out


class TinyClip:
    """`encode_text(tokens) -> (n, DIM)`: the sum of the tokens' word vectors."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.table = rng.standard_normal((VOCAB, DIM)).astype(np.float32)
        self.table[0] = 0.0
        self.logit_scale = np.array(np.log(100.0), np.float32)  # stored as a log, like CLIP's

    def eval(self) -> TinyClip:
        """Inference mode (torch modules have it; nothing to switch here)."""
        return self

    def encode_text(self, tokens: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(tokens)].sum(axis=1)


def picture_near(direction: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.3):
    """n unit vectors close to `direction` (a synthetic picture of that class)."""
    d = direction / np.linalg.norm(direction)
    x = d[None, :] + noise * rng.standard_normal((n, d.size)) / np.sqrt(d.size)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_laion_layout(
    root: Path,
    shards: list[tuple[list[tuple[str, str]], np.ndarray | None]],
) -> list[Path]:
    """`root/metadata/metadata_NNNN.parquet` (+ `root/img_emb/img_emb_NNNN.npy`, float16)."""
    paths = []
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "img_emb").mkdir(parents=True, exist_ok=True)
    for k, (rows, emb) in enumerate(shards):
        p = root / "metadata" / f"metadata_{k:04d}.parquet"
        pq.write_table(
            pa.table(
                {
                    "URL": [u for u, _ in rows],
                    "TEXT": [t for _, t in rows],
                    "similarity": pa.array([0.3] * len(rows), pa.float64()),
                }
            ),
            p,
            row_group_size=max(1, len(rows) // 2),  # two tasks per shard: offsets matter
        )
        if emb is not None:
            np.save(root / "img_emb" / f"img_emb_{k:04d}.npy", emb.astype(np.float16))
        paths.append(p)
    return paths
