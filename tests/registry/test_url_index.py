"""The URL index answers lookups exactly as a scan of every row would, and resumes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from childguard.registry.source import iter_rows, load_inputs
from childguard.registry.url_index import UrlIndex, build_index, prefix_digits
from childguard.urls import list_key

from .match_world import make_world


def _brute(audit: Path) -> tuple[dict[str, set], dict[int, set]]:
    """list key -> {(shard, row)} and LAION hash -> {(shard, row)}, from every row."""
    by_key: dict[str, set] = {}
    by_hash: dict[int, set] = {}
    for sid, ref in load_inputs(audit).items():
        for batch in iter_rows(ref):
            hashes = (
                batch.column("laion_hash").to_pylist()
                if "laion_hash" in batch.column_names
                else [None] * batch.num_rows
            )
            for ri, u, h in zip(batch.column("row_index").to_pylist(), batch.column("url").to_pylist(), hashes, strict=True):
                k = list_key(u)
                if k:
                    by_key.setdefault(k, set()).add((sid, ri))
                if h is not None:
                    by_hash.setdefault(h, set()).add((sid, ri))
    return by_key, by_hash


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audit = make_world(tmp_path_factory.mktemp("idx"), seed=3, images=False)
    build_index(audit)
    return audit


def test_lookups_match_every_row(indexed: Path) -> None:
    index = UrlIndex.open(indexed)
    assert index is not None and index.covers(load_inputs(indexed))
    by_key, by_hash = _brute(indexed)
    assert index.meta["rows"] == 450
    for key, rows in by_key.items():
        got = set(index.lookup_url(key))
        assert got == rows, key
    assert index.lookup_url("https://nowhere.test/none.jpg") == []
    assert index.lookup_url("") == []
    hashes = list(by_hash)
    assert hashes and index.meta["shards"][0]["laion"]
    got = index.lookup_laion(hashes)
    pairs = set(zip(got["shard_id"].to_list(), got["row_index"].to_list(), strict=True))
    assert pairs == set().union(*by_hash.values())
    assert index.lookup_laion([12345]).height == 0


def test_variant_spellings_find_the_row(indexed: Path) -> None:
    index = UrlIndex.open(indexed)
    assert index is not None
    by_key, _ = _brute(indexed)
    key = next(k for k in by_key if "fotos.exemplo.test/img/" in k)
    variants = [
        key.replace("https://", "HTTPS://").replace("fotos.exemplo", "FOTOS.Exemplo"),
        key.replace("/img/", "/./img//"),
        key.replace("fotos.exemplo.test", "fotos.exemplo.test:443"),
        key.replace("-", "%2D"),
        key + "#fragment",
    ]
    for v in variants:
        assert set(index.lookup_url(v)) == by_key[key], v


def test_partitions_are_sorted_and_small(indexed: Path) -> None:
    index = UrlIndex.open(indexed)
    assert index is not None
    files = sorted((indexed / "index" / "url").glob("*.parquet"))
    assert files and all(len(f.stem) == index.digits for f in files)
    total = 0
    for f in files:
        keys = pq.read_table(f).column("key").to_numpy()
        total += len(keys)
        assert (keys[1:] >= keys[:-1]).all()
        assert {int(k) >> (64 - 4 * index.digits) for k in keys} == {int(f.stem, 16)}
    assert total == 450
    assert not (indexed / "index" / "_shards").exists()


def test_partition_count_grows_with_rows() -> None:
    assert prefix_digits(1000) == 1
    assert prefix_digits(10_000_000) == 2
    assert prefix_digits(5_850_000_000) == 4


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def test_killed_build_resumes_to_the_same_index(indexed: Path, tmp_path: Path) -> None:
    import shutil

    audit = tmp_path / "audit"
    shutil.copytree(indexed, audit, ignore=shutil.ignore_patterns("index"))
    env = {**os.environ, "CHILDGUARD_KILL_AT": "index_shard_done:2"}
    cmd = [sys.executable, "-m", "childguard.cli", "index", str(audit)]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert r.returncode == -9
    assert not (audit / "index" / "index.json").exists()  # no half index is ever used
    assert UrlIndex.open(audit) is None
    parts = [p for p in (audit / "index" / "_shards").glob("*.parquet") if ".laion" not in p.name]
    assert len(parts) == 2  # two shards were done when the kill came
    env.pop("CHILDGUARD_KILL_AT")
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=120, text=True)
    assert r.returncode == 0, r.stderr
    assert "450 row(s)" in r.stdout
    assert _tree(audit / "index") == _tree(indexed / "index")


def test_an_index_of_other_shards_is_not_used(indexed: Path) -> None:
    index = UrlIndex.open(indexed)
    assert index is not None
    refs = load_inputs(indexed)
    sid = next(iter(refs))
    changed = {**refs, sid: refs[sid].__class__(**{**refs[sid].__dict__, "size": 1})}
    assert not index.covers(changed)
    assert pl.DataFrame(index.meta["shards"])["rows"].sum() == 450


def test_scan_with_url_index(laion_parquet: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    cmd = [sys.executable, "-m", "childguard.cli", "scan", str(laion_parquet), "--out", str(out)]
    r = subprocess.run([*cmd, "--workers", "1", "--url-index"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    index = UrlIndex.open(out)
    assert index is not None and index.covers(load_inputs(out))
    assert index.meta["rows"] == 1000 and index.meta["shards"][0]["laion"]
    sid = next(iter(load_inputs(out)))
    assert index.lookup_url("https://EXAMPLE.org/img/7.jpg") == [(sid, 7)]
    got = index.lookup_laion([7])  # the fixture's hash column is the row number
    assert got["row_index"].to_list() == [7]
