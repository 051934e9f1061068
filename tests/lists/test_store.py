"""The list store: versions, pinned loads, retractions, atomic failure, the default home."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from childguard.lists.importers import ListImportError
from childguard.lists.store import ListRef, ListStore, ListStoreError, default_home
from childguard.lists.types import ListType, url_digest


def _write(p: Path, lines: list[str]) -> str:
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def _md5s(*words: str) -> list[str]:
    return [hashlib.md5(w.encode()).hexdigest() for w in words]


def test_versions_grow_and_old_versions_rebuild(tmp_path: Path) -> None:
    store = ListStore(tmp_path / "home")
    s1 = store.add("h", [_write(tmp_path / "a.txt", _md5s("a", "b"))], "md5", description="d")
    assert (s1["version"], s1["entries"], s1["added"]) == (1, 2, 2)
    s2 = store.add("h", [_write(tmp_path / "b.txt", _md5s("b", "c", "d"))], "md5")
    assert (s2["version"], s2["entries"], s2["added"]) == (2, 4, 2)
    same = store.add("h", [_write(tmp_path / "c.txt", _md5s("a"))], "md5")
    assert (same["version"], same["added"]) == (2, 0)  # nothing new: no new version
    s3 = store.remove_entries("h", [_write(tmp_path / "r.txt", _md5s("a", "zz"))])
    assert (s3["version"], s3["entries"], s3["removed"]) == (3, 3, 1)

    q = np.frombuffer(b"".join(bytes.fromhex(h) for h in _md5s("a", "c")), np.uint8)
    assert store.load("h@1").digests.contains(q).tolist() == [True, False]
    assert store.load("h@2").digests.contains(q).tolist() == [True, True]
    assert store.load("h").digests.contains(q).tolist() == [False, True]
    assert store.load("h").version == 3

    meta = store.info("h")
    assert [v["entries"] for v in meta["versions"]] == [2, 4, 3]
    assert meta["versions"][0]["sources"][0]["file"] == "a.txt"
    assert meta["description"] == "d"
    # Only the current snapshot is kept; older ones come from deltas.
    snaps = sorted(p.name for p in (tmp_path / "home/lists/h").glob("v*.npy"))
    assert snaps == ["v0003.npy", "v0003.prefix.npy"]


def test_url_list_stores_no_urls(tmp_path: Path) -> None:
    store = ListStore(tmp_path)
    store.add("u", [_write(tmp_path / "u.txt", ["https://Secret.example/kid.jpg"])], "url")
    blob = b"".join(p.read_bytes() for p in (tmp_path / "lists/u").iterdir())
    assert b"secret" not in blob.lower()
    lst = store.load("u")
    assert lst.digests.contains(
        np.frombuffer(url_digest("https://secret.example/kid.jpg"), np.uint8)
    ).all()


def test_failed_import_writes_nothing(tmp_path: Path) -> None:
    store = ListStore(tmp_path)
    store.add("h", [_write(tmp_path / "a.txt", _md5s("a"))], "md5")
    before = {p.name: p.read_bytes() for p in (tmp_path / "lists/h").iterdir()}
    with pytest.raises(ListImportError, match=r"bad.txt:2:"):
        store.add("h", [_write(tmp_path / "bad.txt", [*_md5s("b"), "nope"])], "md5")
    after = {p.name: p.read_bytes() for p in (tmp_path / "lists/h").iterdir()}
    assert after == before
    with pytest.raises(ListImportError):
        store.add("new", [str(tmp_path / "bad.txt")], "md5")
    assert store.names() == ["h"]


def test_type_mismatch_names_and_missing_lists(tmp_path: Path) -> None:
    store = ListStore(tmp_path)
    store.add("h", [_write(tmp_path / "a.txt", _md5s("a"))], "md5")
    with pytest.raises(ListStoreError, match="holds md5"):
        store.add("h", [_write(tmp_path / "s.txt", ["a" * 40])], ListType.sha1)
    with pytest.raises(ListStoreError, match="bad list name"):
        store.add("../x", [str(tmp_path / "a.txt")], "md5")
    with pytest.raises(ListStoreError, match="no list named 'zz'"):
        store.load("zz")
    with pytest.raises(ListStoreError, match=r"versions 1\.\.1"):
        store.load("h@4")
    with pytest.raises(ListStoreError):
        ListRef.parse("h@x")
    store.remove("h")
    assert store.names() == []


def test_pdq_list_keeps_its_index(tmp_path: Path) -> None:
    from childguard.lists.pdq import hex_to_bytes

    store = ListStore(tmp_path)
    rng = np.random.default_rng(3)
    hashes = [bytes(r).hex() for r in rng.integers(0, 256, (300, 32), dtype=np.uint8)]
    store.add("p", [_write(tmp_path / "p.txt", hashes)], "pdq")
    assert (tmp_path / "lists/p/v0001.mih-order.npy").is_file()
    lst = store.load("p")
    q = hex_to_bytes(hashes[:3])
    qi, _, d = lst.pdq.search(q)
    assert qi.tolist() == [0, 1, 2] and d.tolist() == [0, 0, 0]


def test_default_home_follows_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "cg"))
    assert default_home() == tmp_path / "cg"
    assert ListStore().root == tmp_path / "cg" / "lists"
    monkeypatch.delenv("CHILDGUARD_HOME")
    assert default_home().name == "childguard"


def test_list_json_is_valid_after_every_step(tmp_path: Path) -> None:
    store = ListStore(tmp_path)
    store.add("h", [_write(tmp_path / "a.txt", _md5s("a"))], "md5")
    meta = json.loads((tmp_path / "lists/h/list.json").read_text())
    assert meta["type"] == "md5" and meta["version"] == 1
    assert not list((tmp_path / "lists/h").glob(".*tmp*"))
    assert not (tmp_path / "lists/h/.lock").exists()


def test_add_digests(tmp_path: Path) -> None:
    store = ListStore(tmp_path)
    arr = np.random.default_rng(0).integers(0, 256, (50, 32), dtype=np.uint8)
    s = store.add_digests("d", "sha256", np.concatenate([arr, arr[:5]]), "generated")
    assert (s["version"], s["entries"]) == (1, 50)
    assert store.load("d").digests.contains(arr).all()
    with pytest.raises(ListStoreError, match=r"shape \(n, 16\)"):
        store.add_digests("d2", "md5", arr, "x")


def test_loaded_list_stays_within_its_memory_budget(tmp_path: Path) -> None:
    """The README's budget: 8 bytes an entry + the bucket table (4 bytes a bucket, ~n/8
    buckets), whatever the digest width; the digests stay on disk."""
    import tracemalloc

    n = 1_000_000
    store = ListStore(tmp_path)
    rng = np.random.default_rng(5)
    store.add_digests("big", "sha256", rng.integers(0, 256, (n, 32), dtype=np.uint8), "gen")
    tracemalloc.start()
    try:
        lst = store.load("big")
        q = rng.integers(0, 256, (10_000, 32), dtype=np.uint8)
        assert not lst.digests.contains(q).any()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    budget = 8 * n + 4 * (n // 8) + 2 * 2**20  # + 2 MiB for the queries and their search
    assert peak <= budget, f"{peak / 2**20:.1f} MiB > {budget / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", ["../../x", "/etc", "a/b", ".hidden", "", "x" * 200])
def test_list_names_never_leave_the_store(tmp_path: Path, name: str) -> None:
    """`lists rm ../../x` and `lists show ../../x` (issue 11, item 9)."""
    store = ListStore(tmp_path / "home")
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "list.json").write_text("{}")
    for op in (store.info, store.remove, store.load):
        with pytest.raises(ListStoreError, match="bad list name"):
            op(name)
    assert (victim / "list.json").exists()
