"""Quality on the shared development data (skipped where `../shared` is absent).

- The hand rules (`--policy rules`) still meet issue 3's targets on the written rows: they are
  the scorer's features and every decision's explanation, so a regression there matters.
- The shipped default (trained scorer) on the written rows: these rows are among its training
  rows (as training-only examples), so this is a regression check, not a quality claim; the
  quality claims are the cross-validated figures on real rows (README "Detection quality").
- Real web rows are rarely flagged by the default policy.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"

LABELLED = SHARED_DATA / "labelled.parquet"
REAL = SHARED_DATA / "real_unlabelled.parquet"
POOL = SHARED_DATA / "real_pool.parquet"


@pytest.mark.skipif(not LABELLED.exists(), reason="shared development data not present")
def test_hand_rules_meet_targets_per_language() -> None:
    from childguard.evaluate import evaluate
    from childguard.policy import load_policy

    result = evaluate(LABELLED, label_col="label", lang_col="lang", policy=load_policy("rules"))
    assert len(result.groups) == 12
    for g in [*result.groups, result.overall]:
        assert g.precision >= 0.95, g.as_dict()
        assert g.recall >= 0.95, g.as_dict()
        assert g.minor_recall >= 0.95, g.as_dict()


@pytest.mark.skipif(not LABELLED.exists(), reason="shared development data not present")
def test_default_policy_on_written_rows() -> None:
    from childguard.evaluate import evaluate

    result = evaluate(LABELLED, label_col="label", lang_col="lang")
    o = result.overall
    assert o.precision >= 0.95 and o.recall >= 0.9 and o.minor_recall >= 0.9, o.as_dict()
    assert result.figures["rows_in_model_training_set"] > 400  # its screened rows


def _default_risks(rows: pl.DataFrame) -> pl.Series:
    from childguard.evaluate import _detectors, _score
    from childguard.policy import load_policy

    pol = load_policy()
    dets, missing = _detectors(pol)
    assert not [m for m in missing if not m.startswith("takedown_lists")], missing
    pol = pol.resolve(dets)
    table = rows.select(pl.col("URL").alias("url"), pl.col("TEXT").alias("text"))
    return _score(table, pol, dets, 65_536)["risk"]


@pytest.mark.skipif(not REAL.exists(), reason="shared development data not present")
def test_real_rows_rarely_flagged() -> None:
    risk = _default_risks(pl.read_parquet(REAL))
    assert (risk == "identifiable_child").mean() < 0.003
    assert (risk != "clean").mean() < 0.01


@pytest.mark.slow
@pytest.mark.skipif(not POOL.exists(), reason="shared development data not present")
def test_pool_flag_rates_per_source() -> None:
    """Issue 10's targets on 347k real rows: <= 1% flagged and <= 0.3% identifiable per source.
    In the two sources under 1,000 rows one row is 0.15-1.5%: there at most 2 identifiable rows
    (fondant-cc's 545 rows hold 2 rows labelled identifiable, which the default does remove)."""
    pool = pl.read_parquet(POOL)
    risk = _default_risks(pool)
    src = pool["source"].str.split("/").list.first()
    rates = (
        pl.DataFrame({"src": src, "risk": risk})
        .group_by("src")
        .agg(
            flagged=(pl.col("risk") != "clean").mean(),
            ident=(pl.col("risk") == "identifiable_child").mean(),
            n_ident=(pl.col("risk") == "identifiable_child").sum(),
            n=pl.len(),
        )
    )
    for r in rates.iter_rows(named=True):
        assert r["flagged"] <= 0.01, r
        assert r["ident"] <= 0.003 or (r["n"] < 1000 and r["n_ident"] <= 2), r
