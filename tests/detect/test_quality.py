"""Quality on the shared development data (skipped where `../shared` is absent).

Targets from issue 3: identifiable_child precision and recall >= 0.95 and minor recall >= 0.95
in every language; fewer than 1% of real web rows flagged identifiable_child.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"

LABELLED = SHARED_DATA / "labelled.parquet"
REAL = SHARED_DATA / "real_unlabelled.parquet"


@pytest.mark.skipif(not LABELLED.exists(), reason="shared development data not present")
def test_labelled_targets_per_language() -> None:
    from childguard.evaluate import evaluate

    result = evaluate(LABELLED, label_col="label", lang_col="lang")
    assert len(result.groups) == 12
    for g in [*result.groups, result.overall]:
        assert g.precision >= 0.95, g.as_dict()
        assert g.recall >= 0.95, g.as_dict()
        assert g.minor_recall >= 0.95, g.as_dict()


@pytest.mark.skipif(not REAL.exists(), reason="shared development data not present")
def test_real_rows_rarely_flagged(classify) -> None:
    real = pl.read_parquet(REAL)
    out = classify(list(zip(real["TEXT"].to_list(), real["URL"].to_list(), strict=True)))
    share = (out["risk"] == "identifiable_child").mean()
    assert share < 0.01, share
    assert (out["risk"] != "clean").mean() < 0.02
