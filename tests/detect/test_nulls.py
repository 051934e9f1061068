"""`null_flags` gives Arrow's own null flags, for sliced and chunked columns, without pandas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from childguard.detect._nulls import null_flags


def _want(col) -> list[bool]:
    return [v is None for v in col.to_pylist()]


def test_sliced_arrays_at_every_bitmap_offset() -> None:
    arr = pa.array(["a", None, "bc", None, None, "", "d", None, "e", None, "f"] * 3, pa.string())
    for start in range(len(arr)):
        for length in (0, 1, 5, 9, len(arr) - start):
            part = arr.slice(start, length)
            got = null_flags(part)
            assert got.dtype == np.bool_ and got.tolist() == _want(part)


def test_chunked_null_typed_and_null_free_columns() -> None:
    arr = pa.array([None, "x", None, "y", "z", None, "w", "v", None], pa.string())
    chunked = pa.chunked_array([arr.slice(1, 4), arr.slice(5), arr.slice(0, 0), arr.slice(0, 3)])
    assert null_flags(chunked).tolist() == _want(chunked)
    assert null_flags(pa.nulls(4)).tolist() == [True] * 4
    assert null_flags(pa.chunked_array([], pa.string())).tolist() == []
    assert null_flags(pa.array(["a", "b"])).tolist() == [False, False]
