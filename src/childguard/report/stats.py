"""Interval estimates for the report: Wilson score intervals and precision-adjusted prevalence.

Kept free of I/O so the numbers can be checked by hand in tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Proportion:
    """x successes out of n, with a two-sided confidence interval."""

    x: int
    n: int
    estimate: float | None
    low: float | None
    high: float | None

    def to_json(self) -> dict:
        """The proportion as a JSON-ready dict."""
        return asdict(self)


def wilson(x: int, n: int, z: float = Z95, population: int | None = None) -> Proportion:
    """Wilson score interval for x/n.

    `population`: size of the finite population the n were drawn from without replacement
    (e.g. all flagged rows of a risk when n of them were reviewed). The finite population
    correction enters as an effective sample size n*(N-1)/(N-n); when every member was
    observed (n == N) the proportion is known exactly and the interval collapses to it.
    """
    if x < 0 or n < 0 or x > n:
        raise ValueError(f"need 0 <= x <= n, got x={x}, n={n}")
    if n == 0:
        return Proportion(x, n, None, None, None)
    p = x / n
    if population is not None:
        if population < n:
            raise ValueError(f"sample of {n} cannot come from a population of {population}")
        if population == n:
            return Proportion(x, n, p, p, p)
        n_eff = n * (population - 1) / (population - n)
    else:
        n_eff = float(n)
    z2 = z * z
    denom = 1 + z2 / n_eff
    center = (p + z2 / (2 * n_eff)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff * n_eff))
    # the exact endpoints at p = 0 or 1 are 0 and 1; keep float error from moving them
    low = 0.0 if x == 0 else max(0.0, center - half)
    high = 1.0 if x == n else min(1.0, center + half)
    return Proportion(x, n, p, low, high)


@dataclass(frozen=True)
class AdjustedPrevalence:
    """Share of scanned rows that are confirmed cases, from flagged share times precision."""

    flagged: int
    rows: int
    precision: Proportion
    share: float | None
    low: float | None
    high: float | None
    confirmed_rows: float | None
    confirmed_low: float | None
    confirmed_high: float | None

    def to_json(self) -> dict:
        """The estimate as a JSON-ready dict (its precision nested)."""
        d = asdict(self)
        d["precision"] = self.precision.to_json()
        return d


def adjusted_prevalence(
    flagged: int, rows: int, confirmed: int, rejected: int
) -> AdjustedPrevalence:
    """Precision-adjusted prevalence of one risk class.

    The flagged count is a census of the scanned rows (no sampling error); the uncertainty is
    that of precision, estimated from reviewed rows taken as a simple random sample (without
    replacement) of the class's flagged rows: confirmed / (confirmed + rejected), Wilson
    interval with finite population correction. Escalated (undecided) rows are left out.
    The result counts confirmed cases among flagged rows only: rows the detectors missed are
    not in it, so it estimates what the policy catches, not all children's data present.
    """
    reviewed = confirmed + rejected
    prec = wilson(confirmed, reviewed, population=max(flagged, reviewed) if flagged else None)
    if rows == 0 or prec.estimate is None:
        return AdjustedPrevalence(flagged, rows, prec, None, None, None, None, None, None)
    f = flagged / rows
    assert prec.low is not None and prec.high is not None
    return AdjustedPrevalence(
        flagged,
        rows,
        prec,
        f * prec.estimate,
        f * prec.low,
        f * prec.high,
        flagged * prec.estimate,
        flagged * prec.low,
        flagged * prec.high,
    )


def cluster_ratio(xs: list[int], ns: list[int], z: float = Z95) -> Proportion | None:
    """Share sum(xs)/sum(ns) with an interval that treats each shard as one sampled cluster.

    Rows of one shard are alike (same crawl, same site mix), so they are not independent
    draws; the usual ratio-estimator variance for cluster samples,
    S/(S-1) * sum((x_i - p*n_i)^2) / N^2, widens the interval by the between-shard spread.
    A normal approximation: only meaningful with a fair number of shards (the report asks
    for 10). None with fewer than 2 non-empty shards.
    """
    pairs = [(x, n) for x, n in zip(xs, ns, strict=True) if n > 0]
    s = len(pairs)
    total = sum(n for _, n in pairs)
    if s < 2 or total == 0:
        return None
    x_sum = sum(x for x, _ in pairs)
    p = x_sum / total
    var = s / (s - 1) * sum((x - p * n) ** 2 for x, n in pairs) / (total * total)
    half = z * math.sqrt(var)
    return Proportion(x_sum, total, p, max(0.0, p - half), min(1.0, p + half))
