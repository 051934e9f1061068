"""The CLIP-embedding scorer: rows/s of one matrix product per batch vs a per-row Python loop.

Writes a LAION-like `img_emb_0000.npy` (float16, --rows x 768: noisy copies of random class
directions, ~2% of them minor classes) and a 33-class prompt file of the same width, then times, on one core (BLAS limited to one thread):

- `matmul`: the `clip` detector's path per batch of --batch rows: read the rows from the
  memory-mapped file, float16 -> float32, normalise, one (batch x 768) @ (768 x 33) product,
  softmax, sum over the minor classes;
- `detector`: the same through `ClipMinor.score` on an Arrow batch (the columns the scan builds);
- `loop`: the per-row Python loop over the same file (a dot product and a softmax per row), on
  --loop-rows rows.

Rates are rows per CPU-second of this process (one thread), so a shared, loaded machine
gives figures close to a quiet one's.

Both give the same probabilities (checked). The file is written just before the timing, so
it is in the page cache: these are compute figures; a cold read from disk adds ~1.5 KB a row
(float16 x 768) at the disk's speed.

    python bench/embeddings.py                 # 1 M rows (1.5 GB file under bench/out/)
    python bench/embeddings.py --rows 200000   # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # per-core figures

import numpy as np  # noqa: E402 - after the thread limits
import pyarrow as pa  # noqa: E402

from childguard.vision.clip import MinorScorer, load_scorer, save_prompts  # noqa: E402
from childguard.vision.embeddings import ShardEmbeddings  # noqa: E402
from childguard.vision.prompts import (  # noqa: E402
    MINOR_CLASSES,
    OTHER_CLASSES,
    PROMPT_SET_VERSION,
)

OUT = Path(__file__).parent / "out" / "embeddings"
DIM = 768


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_inputs(rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A float16 embedding file of `rows` rows and a prompt file for it."""
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    classes = [*MINOR_CLASSES, *OTHER_CLASSES]
    prompts = OUT / "prompts.npz"
    save_prompts(prompts, embeddings=_unit(rng, len(classes)), classes=classes,
                 minor=[c in MINOR_CLASSES for c in classes], model="bench", pretrained="random",
                 version=PROMPT_SET_VERSION)  # fmt: skip
    emb = OUT / "img_emb" / "img_emb_0000.npy"
    emb.parent.mkdir(exist_ok=True)
    arr = np.lib.format.open_memmap(emb, mode="w+", dtype=np.float16, shape=(rows, DIM))
    classes_emb = load_scorer(prompts).matrix
    minor = np.flatnonzero([c in MINOR_CLASSES for c in classes])
    other = np.flatnonzero([c not in MINOR_CLASSES for c in classes])
    for lo in range(0, rows, 65536):
        n = min(65536, rows - lo)
        # pictures of the classes, ~2% of them minors (a LAION-like share), plus noise
        which = np.where(rng.random(n) < 0.02, rng.choice(minor, n), rng.choice(other, n))
        x = classes_emb[which] + 0.6 * _unit(rng, n)
        arr[lo : lo + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    arr.flush()
    del arr
    return emb, prompts


def loop_scores(scorer: MinorScorer, emb: np.ndarray) -> np.ndarray:
    """The per-row reference: one row at a time, a dot product and a softmax each."""
    out = np.empty(len(emb))
    classes, minor, scale = scorer.matrix, scorer.minor, scorer.logit_scale
    for i in range(len(emb)):
        v = emb[i].astype(np.float32)
        n = float(np.linalg.norm(v))
        if n == 0:
            out[i] = np.nan
            continue
        z = scale * (classes @ (v / n))
        e = np.exp(z - z.max())
        out[i] = e[minor].sum() / e.sum()
    return out


def main() -> None:
    """Write the inputs, time the three paths, print rows/s and check they agree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=65_536)
    ap.add_argument("--loop-rows", type=int, default=20_000)
    ap.add_argument("--keep", action="store_true", help="keep bench/out/embeddings")
    args = ap.parse_args()
    from childguard.detect import REGISTRY, load_builtin
    from childguard.detect.context import BatchContext

    emb_path, prompt_path = write_inputs(args.rows)
    scorer = load_scorer(prompt_path)
    shard = str(OUT / "metadata" / "metadata_0000.parquet")
    emb = ShardEmbeddings(emb_path, shard, args.rows, scorer.dim)
    print(f"{args.rows:,} rows x {DIM} float16 ({emb_path.stat().st_size / 1e9:.2f} GB), "
          f"{scorer.matrix.shape[0]} classes, batches of {args.batch:,}, one thread")  # fmt: skip

    t0 = time.process_time()
    p_mat = np.empty(args.rows)
    for lo in range(0, args.rows, args.batch):
        idx = np.arange(lo, min(lo + args.batch, args.rows))
        p_mat[idx] = scorer.minor_probability(emb.block(idx))
        emb.release(idx)
    t_mat = time.process_time() - t0

    load_builtin()
    det = REGISTRY.create(["clip"], {"clip": {"prompts": str(prompt_path)}})[0]
    det.ensure_setup()
    meta = {b"childguard.shard_path": shard.encode(),
            b"childguard.shard_rows": str(args.rows).encode()}  # fmt: skip
    t0 = time.process_time()
    n_det = 0
    for lo in range(0, args.rows, args.batch):
        n = min(args.batch, args.rows - lo)
        rows = pa.py_buffer(np.arange(lo, lo + n, dtype=np.int64))
        batch = pa.table(
            {"row_index": pa.Array.from_buffers(pa.int64(), n, [None, rows])}
        ).replace_schema_metadata(meta)
        out = det.score(batch, BatchContext(batch))
        n_det += out.num_rows
    t_det = time.process_time() - t0
    last = out.column("clip__score").to_numpy()
    assert np.allclose(last, p_mat[args.rows - len(last) :], atol=1e-9)

    k = min(args.loop_rows, args.rows)
    t0 = time.process_time()
    p_loop = loop_scores(scorer, emb.array[:k])
    t_loop = time.process_time() - t0
    assert np.allclose(p_loop, p_mat[:k], atol=1e-5), "loop and matrix product disagree"

    r_mat, r_det, r_loop = args.rows / t_mat, n_det / t_det, k / t_loop
    print(f"matmul per batch   {r_mat:>12,.0f} rows/s  ({t_mat:.2f} CPU-s)")
    print(f"clip detector      {r_det:>12,.0f} rows/s  ({t_det:.2f} CPU-s)")
    print(f"per-row loop       {r_loop:>12,.0f} rows/s  ({k:,} rows, {t_loop:.2f} CPU-s): "
          f"{r_mat / r_loop:.0f}x slower")  # fmt: skip
    laion = 5_850_000_000
    print(f"LAION-5B ({laion / 1e9:.2f} B rows) at the detector's rate: "
          f"{laion / r_det / 3600:,.1f} CPU-hours (vectors in page cache; 9.0 TB of float16 to read)")
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
