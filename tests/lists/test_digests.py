"""DigestSet (sorted prefixes + verify) agrees with a plain set, including prefix collisions."""

from __future__ import annotations

import numpy as np
import pytest

from childguard.lists.digests import (
    DigestSet,
    brute_force_contains,
    difference,
    prefixes,
    sort_unique,
    union,
)


@pytest.mark.parametrize("width", [8, 16, 20, 32])
def test_contains_agrees_with_set(width: int) -> None:
    rng = np.random.default_rng(width)
    entries = rng.integers(0, 256, (5000, width), dtype=np.uint8)
    # Entries that share their first 8 bytes exercise the collision path.
    twins = entries[:50].copy()
    twins[:, -1] ^= 0xFF
    if width > 8:
        entries = np.concatenate([entries, twins])
    queries = np.concatenate(
        [
            entries[rng.integers(0, len(entries), 700)],
            rng.integers(0, 256, (700, width), dtype=np.uint8),
            twins[:20] ^ np.eye(1, width, width - 2, dtype=np.uint8),  # same prefix, no entry
        ]
    )
    s = DigestSet(sort_unique(entries))
    got = s.contains(queries)
    assert np.array_equal(got, brute_force_contains(entries, queries))
    assert got[:700].all()
    assert not got[-20:].any()


def test_sort_unique_orders_by_bytes_and_drops_duplicates() -> None:
    rows = [b"\x02" * 16, b"\x01" + b"\xff" * 15, b"\x02" * 16, b"\x00" * 16]
    arr = sort_unique(np.frombuffer(b"".join(rows), np.uint8).reshape(-1, 16))
    assert [bytes(r) for r in arr] == sorted(set(rows))
    p = prefixes(arr)
    assert (np.diff(p.astype(np.float64)) >= 0).all()


def test_union_and_difference() -> None:
    a = sort_unique(np.arange(0, 40, dtype=np.uint8).reshape(-1, 8))
    b = sort_unique(np.arange(16, 56, dtype=np.uint8).reshape(-1, 8))
    assert len(union(a, b)) == 7
    diff = difference(a, b)
    assert [bytes(r) for r in diff] == [bytes(range(0, 8)), bytes(range(8, 16))]


def test_empty_set_and_empty_queries() -> None:
    empty = DigestSet(np.zeros((0, 32), np.uint8))
    assert not empty.contains(np.zeros((3, 32), np.uint8)).any()
    full = DigestSet(sort_unique(np.ones((2, 32), np.uint8)))
    assert full.contains(np.zeros((0, 32), np.uint8)).shape == (0,)


def test_load_memory_maps(tmp_path) -> None:
    arr = sort_unique(np.random.default_rng(0).integers(0, 256, (100, 32), dtype=np.uint8))
    np.save(tmp_path / "v.npy", arr)
    np.save(tmp_path / "p.npy", prefixes(arr))
    s = DigestSet.load(tmp_path / "v.npy", tmp_path / "p.npy")
    assert s.contains(arr[:5]).all()
    assert isinstance(s.digests, np.memmap)


@pytest.mark.parametrize("n", [0, 1, 5, 17, 3000])
def test_lower_bound_equals_searchsorted(n: int) -> None:
    rng = np.random.default_rng(n)
    arr = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    # Skew: a third of the entries share their top bytes, so some buckets are crowded.
    arr[: n // 3, :3] = 7
    s = DigestSet(sort_unique(arr))
    q = np.concatenate([arr[:50], rng.integers(0, 256, (200, 16), dtype=np.uint8)])
    q[:20, :3] = 7
    qp = prefixes(q)
    assert np.array_equal(s.lower_bound(qp), np.searchsorted(s.prefix, qp, side="left"))
    assert np.array_equal(s.contains(q), brute_force_contains(arr.reshape(-1, 16), q))


def test_loaded_set_reads_hits_from_disk(tmp_path) -> None:
    arr = sort_unique(np.random.default_rng(1).integers(0, 256, (5000, 32), dtype=np.uint8))
    np.save(tmp_path / "v.npy", arr)
    np.save(tmp_path / "p.npy", prefixes(arr))
    s = DigestSet.load(tmp_path / "v.npy", tmp_path / "p.npy")
    assert s._digests is None  # nothing but prefixes in memory
    q = np.concatenate([arr[::7], arr[::7] ^ 1])
    want = np.r_[np.ones(len(arr[::7]), bool), np.zeros(len(arr[::7]), bool)]
    assert np.array_equal(s.contains(q), want)
    assert s._digests is None
    assert np.array_equal(s.rows(np.array([0, 4999])), arr[[0, 4999]])
