"""The PDQ MIH index returns exactly what brute force returns: random data and reference vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from childguard.lists import pdq
from childguard.lists.pdq import PDQIndex, brute_force_search, hex_to_bytes

# the ThreatExchange PDQ vectors and images (BSD, tests/data/pdq/LICENSE) ship with the tests
PDQ_DATA = Path(__file__).resolve().parents[1] / "data" / "pdq"
ENGINES = ["numpy"] + (["numba"] if pdq._load_numba() is not None else [])


def _flip(rng: np.random.Generator, h: np.ndarray, k: int) -> np.ndarray:
    out = h.copy()
    for b in rng.choice(256, k, replace=False):
        out[b // 8] ^= np.uint8(1 << (b % 8))
    return out


@pytest.fixture(scope="module")
def random_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    db = rng.integers(0, 256, (20000, 32), dtype=np.uint8)
    # Clusters of near-duplicates, so queries have several matches at varied distances.
    base = db[:200]
    db = np.concatenate([db, np.stack([_flip(rng, h, 12) for h in base])])
    queries = np.stack(
        [_flip(rng, db[i], int(rng.integers(0, 48))) for i in rng.integers(0, len(db), 300)]
        + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(50)]
    )
    return db, queries


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("radius", [0, 10, 31, 40])
def test_index_equals_brute_force_on_random(random_case, engine: str, radius: int) -> None:
    db, queries = random_case
    index = PDQIndex.build(db)
    got = index.search(queries, radius, engine=engine, block=128)
    want = brute_force_search(db, queries, radius)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)


@pytest.mark.parametrize("engine", ENGINES)
def test_reference_needles_against_haystack(engine: str) -> None:
    haystack = hex_to_bytes((PDQ_DATA / "haystack.txt").read_text().split())
    needles = hex_to_bytes((PDQ_DATA / "needles.txt").read_text().split())
    assert haystack.shape == (1350, 32) and needles.shape == (100, 32)
    q, e, d = PDQIndex.build(haystack).search(needles, 31, engine=engine)
    bq, be, bd = brute_force_search(haystack, needles, 31)
    assert np.array_equal(q, bq) and np.array_equal(e, be) and np.array_equal(d, bd)
    assert len(q) == 250
    per_needle = np.bincount(q, minlength=100)
    assert per_needle.min() == 2 and per_needle.max() == 3
    assert d.max() <= 24
    assert (d == 0).sum() == 50  # half the needles are in the haystack verbatim
    # Any threshold from 24 to 35 gives the same pairs.
    assert len(PDQIndex.build(haystack).search(needles, 35, engine=engine)[0]) == 250


def test_save_and_load_round_trip(tmp_path, random_case) -> None:
    db, queries = random_case
    index = PDQIndex.build(db)
    index.save(tmp_path / "order.npy", tmp_path / "offsets.npy")
    loaded = PDQIndex.load(db, tmp_path / "order.npy", tmp_path / "offsets.npy")
    for a, b in zip(index.search(queries), loaded.search(queries), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="does not fit"):
        PDQIndex.load(db[:10], tmp_path / "order.npy", tmp_path / "offsets.npy")


def test_empty_index_and_queries() -> None:
    empty = PDQIndex.build(np.zeros((0, 32), np.uint8))
    assert len(empty.search(np.zeros((2, 32), np.uint8))[0]) == 0
    one = PDQIndex.build(np.zeros((1, 32), np.uint8))
    assert len(one.search(np.zeros((0, 32), np.uint8))[0]) == 0


def test_hex_round_trip_and_hamming() -> None:
    h = ["f" * 64, "0" * 63 + "1"]
    arr = hex_to_bytes(h)
    assert pdq.bytes_to_hex(arr) == h
    assert pdq.hamming(arr[0], arr[1]).tolist() == 255
