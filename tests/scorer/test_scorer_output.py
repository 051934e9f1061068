"""The scorer detector's columns: label from the two probabilities on every row, evidence only
on the rows a policy can act on (P >= 0.05), at their own positions, null elsewhere."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from childguard.detect import REGISTRY
from childguard.engine.batch import score_batch
from childguard.engine.tasks import resolve_detector_names
from childguard.policy import load_policy

ROWS = [
    ("Sunset over the lake", None),
    ("happy 2nd birthday to my son Karter at Oak Hill Primary", "https://x.com/karter-2.jpg"),
    ("Modern kitchen with marble countertop", "https://x.com/k.jpg"),
    ("meu filho Lucas, 5 anos, na Escola Pequeno Mundo", "https://x.com/festa-5-anos.jpg"),
    ("kids soccer team U10 youth league 2023 champions", None),
    ("Puppy for sale, 8 weeks old, golden retriever", None),
    ("a boy and his dog", None),
    (None, None),
]


def test_labels_and_evidence_follow_the_probabilities() -> None:
    dets = REGISTRY.create(resolve_detector_names(load_policy(), None))
    rows = ROWS * 3
    batch = pa.table(
        {
            "row_index": pa.array(range(len(rows)), pa.int64()),
            "url": pa.array([u for _, u in rows], pa.string()),
            "text": pa.array([t for t, _ in rows], pa.string()),
        }
    )
    out = score_batch(batch, dets)
    p_id = np.asarray(out["scorer__score"].to_pylist())
    p_minor = np.asarray(out["scorer__minor"].to_pylist())
    labels = out["scorer__label"].to_pylist()
    evidence = out["scorer__evidence"].to_pylist()
    want = [
        "identifiable" if a >= 0.5 else "minor" if b >= 0.5 else None
        for a, b in zip(p_id, p_minor, strict=True)
    ]
    assert labels == want and "identifiable" in labels
    shown = p_minor >= 0.05
    assert [e is not None for e in evidence] == shown.tolist() and 0 < shown.sum() < len(ROWS * 3)
    for e, a, b in zip(evidence, p_id, p_minor, strict=True):
        if e is not None:
            assert e.startswith(f"p_id={a:.2f} p_minor={b:.2f}")
