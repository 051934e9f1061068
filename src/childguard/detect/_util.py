"""Helpers shared by the caption/URL detectors (not a detector: leading underscore)."""

from __future__ import annotations

import unicodedata

import polars as pl
import pyarrow as pa

from childguard.detect.textnorm import _FOLD


def result(
    name: str, n: int, score: pl.Series, evidence: pl.Series | None = None, label: str | None = None
) -> pa.Table:
    """Standard detector output columns from polars series of length n."""
    cols: dict[str, pa.Array] = {
        f"{name}__score": score.cast(pl.Float64).fill_null(0.0).to_arrow(),
        f"{name}__evidence": (
            evidence.cast(pl.String).to_arrow()
            if evidence is not None
            else pa.nulls(n, pa.string())
        ),
    }
    if label is not None:
        lab = pl.DataFrame({"s": score}).select(
            pl.when(pl.col("s") > 0).then(pl.lit(label)).otherwise(pl.lit(None)).alias("l")
        )["l"]
        cols[f"{name}__label"] = lab.cast(pl.String).to_arrow()
    return pa.table(cols)


def scatter_strings(n: int, idx: pl.Series, values: list[str | None]) -> pl.Series:
    """A length-n string series, null except `values` at positions `idx`."""
    out = pl.Series([None] * n, dtype=pl.String)
    if len(idx):
        out = out.scatter(idx, pl.Series(values, dtype=pl.String))
    return out


def fold(word: str) -> str:
    """One word folded like `textnorm` (for the few rows that reach per-row Python)."""
    w = unicodedata.normalize("NFKD", word.lower())
    w = "".join(c for c in w if not unicodedata.combining(c))
    return "".join(_FOLD.get(c, c) for c in w)


def extract_first(values: list[str], regex: str) -> list[str | None]:
    if not values:
        return []
    s = pl.Series(values, dtype=pl.String).str.extract(f"({regex})", 1)
    return [v.strip() if v else None for v in s.to_list()]
