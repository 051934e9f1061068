"""Helpers shared by the caption/URL detectors (not a detector: leading underscore)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect.output import detector_output
from childguard.detect.textnorm import fold_word

# the built-in detectors' short name for the public helper plugins use
result = detector_output


def spread(
    n: int, idx: pl.Series | np.ndarray | list[int], values: pl.Series, fill: object = None
) -> pl.Series:
    """A length-n series holding `values` at positions `idx` and `fill` elsewhere (null for
    strings; False or 0 when not given).

    Built with numpy (booleans, numbers) or one gather (strings): Polars' `scatter` into a
    fresh boolean column costs ~8 ns per row of the column, 30x this, and the shared signals
    spread ~40 candidate-only columns over every row of a batch."""
    pos = idx.to_numpy() if isinstance(idx, pl.Series) else np.asarray(idx)
    pos = pos.astype(np.int64, copy=False)
    dtype = values.dtype
    if dtype != pl.String and values.null_count():
        base = pl.repeat(fill if fill is not None else 0, n, eager=True).cast(dtype)
        return base.scatter(pos, values)
    if dtype == pl.String:
        if fill is not None:
            return pl.repeat(fill, n, dtype=dtype, eager=True).scatter(pos, values)
        # rows without a value point at one null appended to `values` (an index with nulls
        # would go through `pa.array(..., mask=)`, which imports pandas)
        at = np.full(n, len(values), np.int64)
        at[pos] = np.arange(len(pos))
        padded = pl.concat([values, pl.Series([None], dtype=dtype)])
        return padded.gather(pl.Series(at))
    arr = values.to_numpy()
    out = np.full(n, fill if fill is not None else 0, dtype=arr.dtype)
    out[pos] = arr
    return pl.Series(values.name, out, dtype=dtype)


def scatter_strings(n: int, idx: pl.Series | list[int], values: list[str | None]) -> pl.Series:
    """A length-n string series, null except `values` at positions `idx`."""
    return spread(n, idx, pl.Series(values, dtype=pl.String))


def sparse_strings(n: int, idx: list[int] | np.ndarray, values: list[str]) -> pa.Array:
    """A length-n Arrow string array, null except `values` at the distinct positions `idx`.

    Built from its buffers (offsets by a cumulative sum, one validity bitmap): a detector's
    evidence is set on a few rows of a batch, and a gather over every row costs ~10 ns each."""
    pos = np.asarray(idx, np.int64)
    enc = [v.encode("utf-8") for v in values]
    if len(enc) != len(pos) or len(np.unique(pos)) != len(pos):
        raise ValueError("sparse_strings: one value per distinct position")
    order = np.argsort(pos, kind="stable")
    lens = np.zeros(n, np.int64)
    lens[pos] = [len(e) for e in enc]
    off = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    if off[-1] >= 2**31:
        raise ValueError("sparse_strings: over 2 GiB of text in one column")
    valid = np.zeros(n, bool)
    valid[pos] = True
    bufs = [
        pa.py_buffer(np.packbits(valid, bitorder="little")),
        pa.py_buffer(off.astype(np.int32)),
        pa.py_buffer(b"".join(enc[i] for i in order.tolist())),
    ]
    return pa.Array.from_buffers(pa.string(), n, bufs, null_count=n - len(pos))


def scatter_floats(n: int, idx: pl.Series | list[int], value: float = 1.0) -> pl.Series:
    """A length-n float series, 0 except `value` at positions `idx` (no per-row lists)."""
    out = np.zeros(n)
    pos = idx.to_numpy() if isinstance(idx, pl.Series) else np.asarray(idx, np.int64)
    out[pos] = value
    return pl.Series(out)


def take_list(batch: pa.Table, column: str, idx: pl.Series) -> list:
    """Python values of a few rows of one column (no conversion of the whole column)."""
    return batch.column(column).take(idx.cast(pl.UInt32).to_arrow()).to_pylist()


def take_rows(col: pa.ChunkedArray | pa.Array, rows: np.ndarray) -> pa.ChunkedArray | pa.Array:
    """`col` at the positions `rows` (a numpy array); the index is built from its buffer, as
    `pa.array(numpy)` would import pandas (~0.15 s a process) to check its argument."""
    idx = np.ascontiguousarray(rows, np.int64)
    return col.take(pa.Array.from_buffers(pa.int64(), len(idx), [None, pa.py_buffer(idx)]))


def fold(word: str) -> str:
    """One word folded like `textnorm` (for the few rows that reach per-row Python)."""
    return fold_word(word)


def extract_first(values: list[str], regex: str) -> list[str | None]:
    """The first match of `regex` in each string, stripped; None where none matches."""
    if not values:
        return []
    s = pl.Series(values, dtype=pl.String).str.extract(f"({regex})", 1)
    return [v.strip() if v else None for v in s.to_list()]
