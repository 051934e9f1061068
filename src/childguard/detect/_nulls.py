"""Null flags of an Arrow column as numpy, without pandas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def null_flags(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per row of `col`: is it null (bool), unpacked from `is_null`'s bitmap; a boolean array's
    `to_numpy(zero_copy_only=False)` imports pandas (0.15-0.25 s of a process's start-up)."""
    n = len(col)
    if not col.null_count:
        return np.zeros(n, bool)
    flags = pc.is_null(col)
    chunks = flags.chunks if isinstance(flags, pa.ChunkedArray) else [flags]
    out = np.empty(n, bool)
    at = 0
    for c in chunks:
        bits = np.unpackbits(np.frombuffer(c.buffers()[1], np.uint8), bitorder="little")
        out[at : at + len(c)] = bits[c.offset : c.offset + len(c)]
        at += len(c)
    return out
