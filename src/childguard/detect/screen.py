"""The literal screen: which rows of a column contain any of many terms, in one pass.

With the `hyperscan` wheel (BSD; the library is inside the wheel) the terms are one compiled
database per process, scanned once over the column's whole Arrow data buffer; each match's end
offset is mapped to its row through the column's offsets. Without it, Polars' Aho-Corasick
`contains_any` gives the same rows (~4x slower). `CHILDGUARD_SCREEN=polars` forces the fallback
(the tests run both and compare).

Terms must not match across a row boundary: every textnorm column is padded with a space on
each side, and a term never holds two spaces, so a match that starts in one row cannot end in
the next (checked in the tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect._nulls import null_flags

try:  # an optional accelerator: x86-64 wheels only
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the platform
    _hs = None


def backend() -> str:
    """`hyperscan` when the wheel is present and not switched off, else `polars`."""
    if _hs is None or os.environ.get("CHILDGUARD_SCREEN", "").lower() == "polars":
        return "polars"
    return "hyperscan"


@lru_cache(maxsize=8)
def _database(terms: tuple[str, ...], literal: bool = True):
    """The compiled database of `terms`: read from the cache folder when this machine compiled
    it before (a few ms; compiling the context terms takes ~40 ms), else compiled and stored."""
    pats = [t.encode("utf-8") for t in terms]
    # regexes (the prefilters of `contains_regex`) read UTF-8 text, and may match more than
    # they say (prefilter mode), never less
    flags = 0 if literal else _hs.HS_FLAG_UTF8 | _hs.HS_FLAG_PREFILTER
    path = _database_path(pats, flags, literal)
    with contextlib.suppress(OSError, _hs.error):
        db = _hs.loadb(path.read_bytes(), _hs.HS_MODE_BLOCK)
        # a loaded database needs its scratch; one built for another CPU fails here
        db.scratch = _hs.Scratch(db)
        return db
    db = _compile(pats, flags, literal)
    from childguard.io.atomic import atomic_write

    with contextlib.suppress(OSError), atomic_write(path) as tmp:
        tmp.write_bytes(_hs.dumpb(db))
    return db


def _database_path(pats: list[bytes], flags: int, literal: bool) -> Path:
    """The cache file of a database: keyed by the hyperscan version, the mode and the terms."""
    from childguard.detect._table_cache import cache_dir

    h = hashlib.sha256(f"{_hs.__version__}\0{platform.machine()}\0{flags}\0{literal}".encode())
    for p in pats:
        h.update(b"\0" + p)
    return cache_dir() / "screen" / f"{h.hexdigest()[:32]}.hsdb"


def _compile(pats: list[bytes], flags: int, literal: bool):
    """A block-mode database of `pats` (ids are their positions)."""
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    db.compile(
        expressions=pats,
        ids=list(range(len(pats))),
        elements=len(pats),
        flags=[flags] * len(pats),
        literal=literal,
    )
    return db


def _chunk_rows(db, arr: pa.Array) -> np.ndarray:
    """Row positions (within the chunk) with at least one match."""
    if len(arr) == 0:
        return np.zeros(0, np.int64)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    if stop == start:
        return np.zeros(0, np.int64)
    data = memoryview(arr.buffers()[2])[start:stop].tobytes()
    ends: list[int] = []
    db.scan(data, match_event_handler=lambda _id, _f, to, _fl, _ctx: ends.append(to))
    if not ends:
        return np.zeros(0, np.int64)
    # a match ending at byte `to` (exclusive) lies in the row whose span holds byte to - 1
    pos = np.asarray(ends, np.int64) + start - 1
    return np.unique(np.searchsorted(offsets, pos, side="right") - 1)


def contains_any(col: pa.ChunkedArray | pa.Array, terms: list[str]) -> pl.Series:
    """Per row: does it contain any of `terms` (plain substrings)? Nulls read as False."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col])
    n = len(col)
    if not terms:
        return pl.repeat(False, n, dtype=pl.Boolean, eager=True)
    if backend() == "polars":
        s = pl.from_arrow(col)
        assert isinstance(s, pl.Series)
        return s.cast(pl.String).str.contains_any(terms).fill_null(False)
    return pl.Series(_hits(col, _database(tuple(terms))))


def contains_regex(col: pa.ChunkedArray | pa.Array, pattern: str, prefilter: str) -> pl.Series:
    """Per row: does it match `pattern` (Polars' regex)? Nulls read as False.

    `prefilter` is a looser regex that matches inside every row `pattern` matches (the pattern
    without its anchors, look-arounds and Unicode classes: hyperscan and Polars may differ on
    those, not on plain characters). With hyperscan it is scanned over the whole column and
    `pattern` runs on the rows it finds only (the tests check that it finds every row)."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col])

    def exact(c: pa.ChunkedArray) -> pl.Series:
        s = pl.from_arrow(c)
        assert isinstance(s, pl.Series)
        return s.cast(pl.String).str.contains(pattern).fill_null(False)

    if backend() == "polars":
        return exact(col)
    rows = np.flatnonzero(_hits(col, _database((prefilter,), literal=False)))
    hit = np.zeros(len(col), bool)
    if rows.size:
        # (rows as a Polars series: `pa.array` on numpy imports pandas)
        taken = col.take(pl.Series(rows, dtype=pl.UInt32).to_arrow())
        hit[rows[exact(taken).to_numpy()]] = True
    return pl.Series(hit)


def _hits(col: pa.ChunkedArray, db) -> np.ndarray:
    """Per row of `col`: does `db` match inside it (nulls: False)."""
    n = len(col)
    hit = np.zeros(n, bool)
    base = 0
    for chunk in col.chunks:
        if pa.types.is_string_view(chunk.type) or not (
            pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)
        ):
            chunk = chunk.cast(pa.large_string())
        rows = _chunk_rows(db, chunk)
        hit[rows + base] = True
        base += len(chunk)
    if col.null_count:
        hit &= ~null_flags(col)
    return hit
