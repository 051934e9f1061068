"""Exact membership over millions of fixed-width digests with bounded memory.

A list version is a `(n, width)` uint8 array sorted by bytes with no duplicates, saved as .npy,
plus a `(n,)` uint64 array of each digest's first 8 bytes (big-endian, so sorted the same way).
A lookup searches the prefixes (the only array in memory) and reads the full digest from the
file only where a prefix matches, so a 10-million-entry SHA-256 list costs ~80 MB of prefixes
(+ a ~5 MB bucket table) in RAM, and its 320 MB of digests stay on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def as_digest_array(digests: list[bytes] | np.ndarray, width: int) -> np.ndarray:
    """Digests as a contiguous (n, width) uint8 array."""
    if isinstance(digests, np.ndarray):
        arr = np.ascontiguousarray(digests, dtype=np.uint8)
    else:
        arr = np.frombuffer(b"".join(digests), dtype=np.uint8)
    return arr.reshape(-1, width)


def sort_unique(arr: np.ndarray) -> np.ndarray:
    """Rows sorted by bytes (memcmp order), duplicates dropped."""
    width = arr.shape[1]
    if arr.shape[0] == 0:
        return arr.reshape(0, width)
    v = np.ascontiguousarray(arr).view(f"V{width}").ravel()
    return np.unique(v).view(np.uint8).reshape(-1, width)


def prefixes(arr: np.ndarray) -> np.ndarray:
    """First 8 bytes of each row as big-endian uint64 (monotone with memcmp order)."""
    n, width = arr.shape
    head = np.zeros((n, 8), dtype=np.uint8)
    head[:, : min(8, width)] = arr[:, :8]
    return head.view(">u8").ravel().astype(np.uint64)


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted unique rows of both digest arrays."""
    return sort_unique(np.concatenate([a, b]))


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of sorted-unique `a` not in `b`."""
    if len(a) == 0 or len(b) == 0:
        return a
    return a[~DigestSet(a).contains(b, _reverse=True)]


class DigestSet:
    """Sorted unique digests with exact `contains`.

    Lookup: the top bits of a query's 64-bit prefix pick a bucket (a table of ~n/8 offsets,
    a few MB), a vectorised binary search inside the bucket (a few steps, all in one or two
    cache lines) finds the prefix, and only rows whose prefix matches have their full digest
    compared. A list loaded from disk keeps only its prefixes in memory; the full digests of
    hits are read from the file (positioned reads), so memory is 8 bytes per entry plus the
    bucket table, whatever the digest width."""

    def __init__(
        self,
        digests: np.ndarray | None,
        prefix: np.ndarray | None = None,
        *,
        path: Path | None = None,
        data_offset: int = 0,
        shape: tuple[int, int] | None = None,
    ) -> None:
        self._digests = digests
        self._path = path
        self._data_offset = data_offset
        if digests is not None:
            shape = (int(digests.shape[0]), int(digests.shape[1]))
        assert shape is not None
        self.n, self.width = shape
        if prefix is None:
            assert digests is not None
            prefix = prefixes(digests)
        self.prefix = prefix
        self._bits, self._offsets = _bucket_table(prefix)

    @classmethod
    def load(cls, entries: Path, prefix: Path | None = None) -> DigestSet:
        """A digest set from its saved entries (memory-mapped) and prefix files."""
        if prefix is None or not prefix.exists():
            arr = np.load(entries)
            return cls(arr)
        with open(entries, "rb") as f:
            fmt = np.lib.format
            major, _ = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
        if fortran or dtype != np.uint8 or len(shape) != 2:
            raise ValueError(f"{entries}: not a (n, width) uint8 digest array")
        pre = np.load(prefix)  # in RAM: every lookup searches it
        if len(pre) != shape[0]:
            raise ValueError(f"{prefix}: {len(pre)} prefixes for {shape[0]} digests")
        return cls(None, pre, path=entries, data_offset=offset, shape=(shape[0], shape[1]))

    @property
    def digests(self) -> np.ndarray:
        """All digests (memory-mapped when the set was loaded from disk)."""
        if self._digests is None:
            assert self._path is not None
            self._digests = np.load(self._path, mmap_mode="r")
        return self._digests

    def __len__(self) -> int:
        return self.n

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Digests at sorted-order positions `idx`."""
        if self._digests is not None or len(idx) > 65536:
            return np.asarray(self.digests[idx])
        out = np.empty((len(idx), self.width), dtype=np.uint8)
        assert self._path is not None
        fd = os.open(self._path, os.O_RDONLY)
        try:
            for k, i in enumerate(idx.tolist()):
                buf = os.pread(fd, self.width, self._data_offset + i * self.width)
                out[k] = np.frombuffer(buf, dtype=np.uint8)
        finally:
            os.close(fd)
        return out

    def lower_bound(self, qp: np.ndarray) -> np.ndarray:
        """For each 64-bit prefix, the first position whose prefix is >= it (np.searchsorted)."""
        top = (qp >> np.uint64(64 - self._bits)).astype(np.intp) if self._bits else 0
        lo = np.asarray(self._offsets[top], dtype=np.int64).reshape(-1).copy()
        hi = np.asarray(self._offsets[top + 1], dtype=np.int64).reshape(-1).copy()
        if lo.shape != qp.shape:  # no bucket bits: one bucket for everything
            lo = np.broadcast_to(lo, qp.shape).copy()
            hi = np.broadcast_to(hi, qp.shape).copy()
        act = np.flatnonzero(lo < hi)
        while len(act):
            a_lo, a_hi = lo[act], hi[act]
            mid = (a_lo + a_hi) >> 1
            less = self.prefix[mid] < qp[act]
            a_lo = np.where(less, mid + 1, a_lo)
            a_hi = np.where(less, a_hi, mid)
            lo[act], hi[act] = a_lo, a_hi
            act = act[a_lo < a_hi]
        return lo

    def contains(self, queries: np.ndarray, *, _reverse: bool = False) -> np.ndarray:
        """Bool mask over query rows: is the digest in the set?

        With `_reverse`, returns the mask over *this set's rows* present in `queries`."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, self.width)
        if _reverse:
            other = DigestSet(sort_unique(queries))
            return other.contains(np.asarray(self.digests))
        n = len(self)
        out = np.zeros(len(queries), dtype=bool)
        if n == 0 or len(queries) == 0:
            return out
        qp = prefixes(queries)
        lo = self.lower_bound(qp)
        at = np.minimum(lo, n - 1)
        cand = np.flatnonzero((lo < n) & (self.prefix[at] == qp))
        if len(cand) == 0:
            return out
        if self.width <= 8:
            out[cand] = True
            return out
        nxt = np.minimum(lo[cand] + 1, n - 1)
        shared = (lo[cand] + 1 < n) & (self.prefix[nxt] == qp[cand])
        single = cand[~shared]
        out[single] = (self.rows(lo[single]) == queries[single]).all(axis=1)
        # Several entries share a 64-bit prefix: vanishingly rare for hashes, done row by row.
        for i in cand[shared].tolist():
            hi = int(np.searchsorted(self.prefix, qp[i], side="right"))
            block = self.rows(np.arange(lo[i], hi))
            out[i] = bool((block == queries[i]).all(axis=1).any())
        return out


def _bucket_table(prefix: np.ndarray) -> tuple[int, np.ndarray]:
    """(bits, offsets): bucket v = prefix >> (64 - bits) holds positions offsets[v]:offsets[v+1].

    About 8 entries a bucket, so the in-bucket search takes ~3 steps."""
    n = len(prefix)
    bits = min(24, max(0, int(n).bit_length() - 4))
    if bits == 0:
        return 0, np.array([0, n], dtype=np.int64)
    # Bucket starts by binary search (prefixes are sorted): no n-sized temporaries at load.
    starts = np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)
    offsets = np.empty((1 << bits) + 1, dtype=np.int64 if n >= 2**31 else np.int32)
    offsets[:-1] = np.searchsorted(prefix, starts, side="left")
    offsets[-1] = n
    return bits, offsets


def brute_force_contains(entries: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Reference for `DigestSet.contains`: a Python set of bytes."""
    width = entries.shape[1] if entries.ndim == 2 else queries.shape[1]
    s = {bytes(r) for r in np.asarray(entries).reshape(-1, width)}
    return np.array([bytes(r) in s for r in queries.reshape(-1, width)], dtype=bool)
