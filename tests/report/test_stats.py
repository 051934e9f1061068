"""Interval estimates checked against values worked out by hand."""

from __future__ import annotations

import pytest

from childguard.report.stats import adjusted_prevalence, cluster_ratio, wilson


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        # p = 0.02, z = 1.95996: centre (p + z²/2n)/(1 + z²/n) = 0.0218368,
        # half-width z/(1 + z²/n)·sqrt(p(1-p)/n + z²/4n²) = 0.0088531
        (20, 1000, 0.012984, 0.030690),
        (81, 263, 0.255289, 0.366210),  # the textbook example: 0.2553 – 0.3662
        (0, 10, 0.0, 0.277533),  # upper bound z²/(n + z²) when nothing was seen
        (10, 10, 0.722467, 1.0),
    ],
)
def test_wilson_matches_hand_computed(x: int, n: int, low: float, high: float) -> None:
    p = wilson(x, n)
    assert p.estimate == pytest.approx(x / n)
    assert p.low == pytest.approx(low, abs=1e-6)
    assert p.high == pytest.approx(high, abs=1e-6)


def test_wilson_empty_sample_has_no_estimate() -> None:
    p = wilson(0, 0)
    assert (p.estimate, p.low, p.high) == (None, None, None)


@pytest.mark.parametrize(("x", "n"), [(-1, 5), (6, 5), (1, -1)])
def test_wilson_rejects_impossible_counts(x: int, n: int) -> None:
    with pytest.raises(ValueError, match="0 <= x <= n"):
        wilson(x, n)


def test_finite_population_correction() -> None:
    plain = wilson(30, 40)
    # a huge population is the same as sampling with replacement
    big = wilson(30, 40, population=10**9)
    assert big.low == pytest.approx(plain.low, abs=1e-7)
    assert big.high == pytest.approx(plain.high, abs=1e-7)
    # 40 of 50 reviewed: much narrower; n_eff = 40·49/10 = 196
    fpc = wilson(30, 40, population=50)
    assert plain.low < fpc.low < 0.75 < fpc.high < plain.high
    assert fpc.low == pytest.approx(wilson(147, 196).low, abs=1e-9)  # same p, n = 196
    # every member reviewed: the proportion is known exactly
    exact = wilson(30, 40, population=40)
    assert (exact.low, exact.estimate, exact.high) == (0.75, 0.75, 0.75)
    with pytest.raises(ValueError, match="population"):
        wilson(3, 10, population=5)


def test_adjusted_prevalence_is_flagged_share_times_precision() -> None:
    # 200 of 10,000 rows flagged; 50 reviewed: 40 confirmed, 10 rejected
    a = adjusted_prevalence(flagged=200, rows=10_000, confirmed=40, rejected=10)
    prec = wilson(40, 50, population=200)
    assert a.precision == prec
    assert a.share == pytest.approx(0.02 * 0.8)
    assert a.low == pytest.approx(0.02 * prec.low)
    assert a.high == pytest.approx(0.02 * prec.high)
    assert a.confirmed_rows == pytest.approx(160)
    assert a.confirmed_low == pytest.approx(200 * prec.low)
    assert a.low < a.share < a.high


def test_adjusted_prevalence_without_reviews_is_unknown() -> None:
    a = adjusted_prevalence(flagged=20, rows=1000, confirmed=0, rejected=0)
    assert a.share is None and a.precision.estimate is None
    assert a.to_json()["precision"]["n"] == 0


def test_cluster_ratio_matches_hand_computed() -> None:
    # three shards of 10 rows with 1, 2, 3 hits: p = 0.2, residuals x - p·n = -1, 0, 1,
    # var = 3/2 · 2 / 30² = 1/300, se = 0.057735, half-width 1.95996 · se = 0.113159
    c = cluster_ratio([1, 2, 3], [10, 10, 10])
    assert c is not None
    assert c.estimate == pytest.approx(0.2)
    assert c.low == pytest.approx(0.086841, abs=1e-6)
    assert c.high == pytest.approx(0.313159, abs=1e-6)
    # identical shards: no between-shard spread, a zero-width interval
    same = cluster_ratio([5, 5, 5], [100, 100, 100])
    assert same is not None and same.low == same.high == pytest.approx(0.05)
    # empty shards are not clusters; one shard is too few
    assert cluster_ratio([3, 0], [10, 0]) is None
    assert cluster_ratio([0, 0, 0], [10, 10, 10]).high == 0.0
