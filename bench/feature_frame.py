"""Scorer feature tokens: µs per screen candidate, the previous `feature_frame` (kept in
tests/scorer/features_reference.py) and the current one side by side, on the same batches.

Batches are built as a scan builds them (prepare, signals, the caption detectors); each
implementation runs on every batch's candidates, alternating, and the minimum of the repeats
is reported, as CPU time of the process (steadier on a shared machine) and wall time. Also checks
that both return the same (row, token) pairs.

    PYTHONPATH=src python bench/feature_frame.py --pool ../shared/data/real_pool.parquet
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Build the batches, time both implementations, print µs per candidate."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pool", default=str(REPO.parent / "shared" / "data" / "real_pool.parquet"))
    ap.add_argument("--rows", type=int, default=200_000, help="rows of the pool to use")
    ap.add_argument("--batch", type=int, default=65_536)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "scorer"))
    from features_reference import reference_feature_frame

    from childguard.engine.batch import score_batch_with_context
    from childguard.scorer.features import feature_frame
    from childguard.scorer.model import load_model
    from childguard.scorer.train import text_detectors

    pool = pl.read_parquet(args.pool, columns=["URL", "TEXT"]).head(args.rows)
    dets = text_detectors()
    batches = []
    for off in range(0, pool.height, args.batch):
        part = pool.slice(off, args.batch)
        batch = pa.table(
            {
                "row_index": pa.array(np.arange(off, off + part.height), pa.int64()),
                "url": part["URL"].cast(pl.String).to_arrow(),
                "text": part["TEXT"].cast(pl.String).to_arrow(),
            }
        )
        table, ctx = score_batch_with_context(batch, dets)
        batches.append((table, ctx.signals, ctx.signals["candidate"].arg_true().to_numpy()))
    n = sum(len(b[2]) for b in batches)
    vocab = load_model(None).vocab_series
    print(f"{pool.height} rows, {len(batches)} batches, {n} candidates")
    impls = {"before": reference_feature_frame, "after": feature_frame}
    for label, v in (("with vocab (scan)", vocab), ("no vocab (training)", None)):
        cpu = dict.fromkeys(impls, float("inf"))
        wall = dict.fromkeys(impls, float("inf"))
        for _ in range(args.repeat):
            for name, f in impls.items():
                t0, w0 = time.process_time(), time.perf_counter()
                for table, sig, idx in batches:
                    f(table, sig, idx, v)
                cpu[name] = min(cpu[name], time.process_time() - t0)
                wall[name] = min(wall[name], time.perf_counter() - w0)
        same = all(
            feature_frame(t, s, i, v).sort("row", "token").equals(
                reference_feature_frame(t, s, i, v).sort("row", "token")
            )
            for t, s, i in batches
        )
        for kind, best in (("cpu", cpu), ("wall", wall)):
            b, a = (best[k] / n * 1e6 for k in ("before", "after"))
            print(
                f"{label:20s} {kind:4s} before {b:6.1f} µs/candidate  after {a:6.1f}  "
                f"speed-up {b / a:4.2f}x  identical: {same}"
            )


if __name__ == "__main__":
    main()
