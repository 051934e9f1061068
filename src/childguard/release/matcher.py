"""Membership tests against a removal manifest, vectorised and compact.

A manifest of N removals is held as sorted numpy arrays, not Python sets: each url_sha256 as
two uint64 (its first 128 bits, 16 bytes a row; an accidental 128-bit collision between two
SHA-256 values is not a practical concern) and each LAION hash as one int64. Ten million
removals take about 240 MB; lookups are `searchsorted` over whole columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.urls import url_sha256_column


def _hex_to_u64_pairs(hexes: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid mask, hi, lo) of the first 128 bits of hex SHA-256 strings (nulls invalid)."""
    s = hexes.cast(pl.String)
    hi = s.str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64, strict=False)
    lo = s.str.slice(16, 16).str.to_integer(base=16, dtype=pl.UInt64, strict=False)
    valid = (s.str.len_bytes() == 64) & hi.is_not_null() & lo.is_not_null()
    return (
        valid.fill_null(False).to_numpy(),
        hi.fill_null(0).to_numpy().astype(np.uint64),
        lo.fill_null(0).to_numpy().astype(np.uint64),
    )


@dataclass
class HashSet128:
    """A sorted set of the first 128 bits of SHA-256 hex digests, for vectorised lookups."""
    hi: np.ndarray  # sorted
    lo: np.ndarray

    @classmethod
    def from_hex(cls, hexes: pl.Series) -> HashSet128:
        """The set of the valid hex digests in a series (lower-cased, deduplicated)."""
        # dedupe as strings first (a URL can have several entries), then sort by the high
        # half only: equal high halves are true 64-bit collisions, rare, checked one by one
        valid, hi, lo = _hex_to_u64_pairs(hexes.cast(pl.String).str.to_lowercase().unique())
        hi, lo = hi[valid], lo[valid]
        order = np.argsort(hi, kind="stable")
        return cls(hi[order], lo[order])

    def __len__(self) -> int:
        return len(self.hi)

    def contains(self, hexes: pl.Series) -> np.ndarray:
        """Boolean mask: True where a hex digest of the series is in the set."""
        valid, qhi, qlo = _hex_to_u64_pairs(hexes)
        out = np.zeros(len(valid), dtype=bool)
        if len(self.hi) == 0 or len(qhi) == 0:
            return out
        left = np.searchsorted(self.hi, qhi, side="left")
        right = np.searchsorted(self.hi, qhi, side="right")
        n = right - left
        single = n == 1
        out[single] = self.lo[left[single]] == qlo[single]
        for i in np.nonzero(n > 1)[0]:  # a 64-bit prefix shared by two entries: rare
            out[i] = bool(np.any(self.lo[left[i] : right[i]] == qlo[i]))
        return out & valid


@dataclass
class Int64Set:
    """A sorted set of int64 values (LAION hashes), for vectorised lookups."""
    values: np.ndarray  # sorted, unique

    @classmethod
    def from_series(cls, s: pl.Series) -> Int64Set:
        """The set of a series' non-null int64 values."""
        # polars' unique + sort: numpy's unique is orders of magnitude slower here
        v = s.cast(pl.Int64, strict=False).drop_nulls().unique().sort()
        return cls(v.to_numpy().astype(np.int64))

    def __len__(self) -> int:
        return len(self.values)

    def contains(self, s: pl.Series) -> np.ndarray:
        """Boolean mask: True where a series value is in the set (nulls: False)."""
        q = s.cast(pl.Int64, strict=False)
        valid = q.is_not_null().to_numpy()
        qv = q.fill_null(0).to_numpy().astype(np.int64)
        if len(self.values) == 0 or len(qv) == 0:
            return np.zeros(len(qv), dtype=bool)
        idx = np.searchsorted(self.values, qv)
        idx = np.minimum(idx, len(self.values) - 1)
        return (self.values[idx] == qv) & valid


@dataclass
class Matcher:
    """Decides which rows of a target match a manifest: by url_sha256, or by LAION hash."""

    urls: HashSet128
    laion: Int64Set
    # keys whose every entry is `held` (left out until a reviewer decides, not removed for
    # cause): a row that only these match is counted as held; None when nothing is held
    held_urls: HashSet128 | None = None
    held_laion: Int64Set | None = None

    @classmethod
    def from_manifest(cls, manifest: pa.Table | pl.DataFrame) -> Matcher:
        """A matcher for a manifest's url_sha256 and laion_hash columns."""
        df = manifest if isinstance(manifest, pl.DataFrame) else pl.from_arrow(manifest)
        assert isinstance(df, pl.DataFrame)
        m = cls(HashSet128.from_hex(df["url_sha256"]), Int64Set.from_series(df["laion_hash"]))
        if "reason" in df.columns:
            is_held = df["reason"] == "held"
            held, cause = df.filter(is_held), df.filter(~is_held)
            if held.height:
                hu = held["url_sha256"].drop_nulls()
                hl = held["laion_hash"].cast(pl.Int64, strict=False).drop_nulls()
                cl = cause["laion_hash"].cast(pl.Int64, strict=False).drop_nulls()
                m.held_urls = HashSet128.from_hex(
                    hu.filter(~hu.is_in(cause["url_sha256"].drop_nulls().implode()))
                )
                m.held_laion = Int64Set.from_series(hl.filter(~hl.is_in(cl.implode())))
        return m

    def __len__(self) -> int:
        return max(len(self.urls), len(self.laion))

    def match(self, urls: pl.Series | None = None, hashes: pl.Series | None = None) -> np.ndarray:
        """Boolean mask: True where a row's normalised-URL hash or LAION hash is listed."""
        n = len(urls) if urls is not None else len(hashes) if hashes is not None else 0
        out = np.zeros(n, dtype=bool)
        if urls is not None and len(self.urls):
            out |= self.urls.contains(url_sha256_column(urls))
        if hashes is not None and len(self.laion):
            out |= self.laion.contains(hashes)
        return out

    def held_only(self, urls: pl.Series, hashes: pl.Series | None = None) -> np.ndarray:
        """Boolean mask over matched rows: True where only `held` entries match the row."""
        out = np.zeros(len(urls), dtype=bool)
        if self.held_urls is None or self.held_laion is None or not len(urls):
            return out
        digests = url_sha256_column(urls)
        url_cause = self.urls.contains(digests) & ~self.held_urls.contains(digests)
        url_held = self.held_urls.contains(digests)
        if hashes is not None:
            lh_cause = self.laion.contains(hashes) & ~self.held_laion.contains(hashes)
            lh_held = self.held_laion.contains(hashes)
        else:
            lh_cause = lh_held = out
        return (url_held | lh_held) & ~url_cause & ~lh_cause
