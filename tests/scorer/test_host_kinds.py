"""The kind of image host is a scorer feature (features v9): signals mark it on candidate rows
from the folded host, and the candidate's features carry it as `s:host_<kind>`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from childguard.detect import signals, textnorm
from childguard.engine.batch import score_batch_with_context
from childguard.scorer.features import batch_features
from childguard.scorer.train import text_detectors

ROWS = [
    ("https://i.redd.it/abc123.jpg", "my boy turned 5 today", None),  # no "social" kind
    ("https://i.pinimg.com/736x/aa/bb/cc/x.jpg", "little girl birthday party ideas", "host_pin"),
    ("https://cdn.shopify.com/s/files/1/boys-shirt.jpg", "Boys shirt age 5", "host_shop"),
    ("https://mumblog.files.wordpress.com/2019/05/a.jpg", "our son at the beach", "host_blog"),
    ("https://www.dailynews.com/img/a.jpg", "Lucas, 9, of Leeds wins prize", "host_news"),
    ("https://farm8.staticflickr.com/7027/a_o.jpg", "kids at the park", "host_photo"),
    ("https://example.org/a.jpg", "my son at the park", None),
]


def _batch(rows) -> pa.Table:
    return pa.table(
        {
            "row_index": pa.array(range(len(rows)), pa.int64()),
            "url": [u for u, _, _ in rows],
            "text": [t for _, t, _ in rows],
        }
    )


def test_signals_mark_the_host_kind_of_candidates() -> None:
    s = signals.compute(textnorm.prepare(_batch(ROWS)))
    assert s["candidate"].all()
    for i, (_, _, kind) in enumerate(ROWS):
        marked = [k for k in signals.HOST_KINDS if s[k][i]]
        assert marked == ([kind] if kind else []), (i, marked)


def test_rows_the_screen_passes_have_no_host_kind() -> None:
    s = signals.compute(textnorm.prepare(_batch([("https://i.redd.it/x.jpg", "sunset", None)])))
    assert not s["candidate"][0]
    assert not any(s[k][0] for k in signals.HOST_KINDS)


def test_features_carry_the_host_kind() -> None:
    table, ctx = score_batch_with_context(_batch(ROWS), text_detectors())
    idx = ctx.signals["candidate"].arg_true().to_numpy()
    feats = batch_features(table, ctx.signals, idx)
    for k, i in enumerate(np.asarray(idx).tolist()):
        kind = ROWS[i][2]
        got = {f for f in feats[k] if f.startswith("s:host_") and f != "s:host_school"}
        assert got == ({f"s:{kind}"} if kind else set()), (i, got)
