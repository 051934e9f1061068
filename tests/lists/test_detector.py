"""The takedown_lists detector: every list type, image sources, errors, policy and a real scan."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from childguard.detect.takedown_lists import TakedownLists
from childguard.engine.batch import decide_batch
from childguard.images.hashing import pdq_hash
from childguard.lists.store import ListStore
from childguard.policy import Policy
from childguard.urls import laion_hash

from .helpers import blocky_image, flat_image, near_copy, write_img2dataset_shard

RULE = {"name": "takedown_list_match", "risk": "blocked", "when": "takedown_lists"}


def _batch(rows: list[dict], shard: Path | None = None) -> pa.Table:
    t = pa.table(
        {
            "row_index": pa.array(range(len(rows)), pa.int64()),
            "url": pa.array([r.get("url") for r in rows], pa.string()),
            "text": pa.array([r.get("caption", "") for r in rows], pa.string()),
            "key": pa.array([r.get("key") for r in rows], pa.string()),
        }
    )
    if shard is not None:
        t = t.replace_schema_metadata({b"childguard.shard_path": str(shard).encode()})
    return t


def _lines(p: Path, lines: list[str]) -> str:
    p.write_text("\n".join(lines) + "\n")
    return str(p)


@pytest.fixture
def images() -> dict[str, bytes]:
    return {f"{i:09d}": blocky_image(i) for i in range(6)}


def test_empty_store_is_a_cheap_no_op(tmp_path: Path) -> None:
    det = TakedownLists(home=str(tmp_path))
    det.ensure_setup()
    out = det.run(_batch([{"url": "https://e.com/a.jpg"}]))
    assert out.column("takedown_lists__score").to_pylist() == [0.0]
    assert det.describe()["lists"] == []


def test_url_sha256_and_laion_hash_lists(tmp_path: Path) -> None:
    store = ListStore(tmp_path / "home")
    store.add("urls", [_lines(tmp_path / "u.txt", ["https://Example.com:443/kid.jpg#x"])], "url")
    h = hashlib.sha256(b"https://other.org/b.png").hexdigest()
    store.add("shas", [_lines(tmp_path / "s.txt", [h])], "url_sha256")
    lh = laion_hash("https://third.net/c.jpg", "a caption")
    store.add("laion", [_lines(tmp_path / "l.txt", [str(lh)])], "laion_hash")
    det = TakedownLists(home=str(tmp_path / "home"))
    det.ensure_setup()
    rows = [
        {"url": "https://example.com/kid.jpg"},
        {"url": "https://OTHER.org/b.png"},
        {"url": "https://third.net/c.jpg", "caption": "a caption"},
        {"url": "https://example.com/kid2.jpg"},
        {"url": None},
    ]
    out = det.run(_batch(rows)).to_pylist()
    assert [r["takedown_lists__score"] for r in out] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert out[0]["takedown_lists__evidence"] == "list:urls@v1 type:url"
    assert out[1]["takedown_lists__evidence"] == "list:shas@v1 type:url_sha256"
    assert out[2]["takedown_lists__label"] == "laion_hash"
    assert "example.com" not in json.dumps(out)  # evidence never carries the URL

    # A given laion_hash column is used as is; nulls in it are computed.
    b = _batch(rows[:3]).append_column("laion_hash", pa.array([None, 5, lh], pa.int64()))
    got = det.run(b).column("takedown_lists__label").to_pylist()
    assert got == ["url", "url_sha256", "laion_hash"]


def test_lists_option_narrows_and_pins_versions(tmp_path: Path) -> None:
    store = ListStore(tmp_path / "home")
    store.add("a", [_lines(tmp_path / "a.txt", ["https://e.com/1"])], "url")
    store.add("b", [_lines(tmp_path / "b.txt", ["https://e.com/2"])], "url")
    det = TakedownLists(home=str(tmp_path / "home"), lists=["b"])
    store.add("b", [_lines(tmp_path / "b2.txt", ["https://e.com/3"])], "url")  # v2 after start
    det.ensure_setup()
    d = det.describe()
    assert d["lists"] == [
        {"name": "b", "type": "url", "version": 1, "entries": 1, "url_key": "sb1"}
    ]
    assert d["options"]["lists"] == ["b@1"]
    scores = det.run(_batch([{"url": f"https://e.com/{i}"} for i in (1, 2, 3)]))
    assert scores.column("takedown_lists__score").to_pylist() == [0.0, 1.0, 0.0]
    assert TakedownLists(home=str(tmp_path / "home"), lists="a,b@2").describe()["options"][
        "lists"
    ] == ["a@1", "b@2"]


@pytest.mark.parametrize("as_folder", [False, True], ids=["tar", "folder"])
def test_file_hash_and_pdq_lists_on_images(tmp_path: Path, images, as_folder: bool) -> None:
    rows = [
        {"key": k, "url": f"https://e.com/{k}.jpg", "caption": "c", "image": v}
        for k, v in images.items()
    ]
    rows[4]["image"] = b"\xff\xd8 not really a jpeg"
    rows[5]["image"] = flat_image()
    rows.append({"key": "000000099", "url": "https://e.com/99.jpg", "caption": "c", "image": None})
    shard = write_img2dataset_shard(tmp_path / "data", "00000", rows, as_folder=as_folder)
    store = ListStore(tmp_path / "home")
    md5 = hashlib.md5(images["000000001"]).hexdigest()
    store.add("md5s", [_lines(tmp_path / "m.txt", [md5])], "md5")
    sha1 = hashlib.sha1(images["000000002"]).hexdigest()
    store.add("sha1s", [_lines(tmp_path / "s.txt", [sha1])], "sha1")
    # The listed PDQ is a re-encoded (JPEG, resized) copy of image 3: near, not identical.
    near = pdq_hash(near_copy(3))[0]
    store.add("pdqs", [_lines(tmp_path / "p.txt", [near.hex()])], "pdq")

    det = TakedownLists(home=str(tmp_path / "home"))
    det.ensure_setup()
    out = det.run(_batch(rows, shard)).to_pylist()
    labels = [r["takedown_lists__label"] for r in out]
    assert labels == [None, "md5", "sha1", "pdq", "image_error", "pdq_low_quality", None]
    assert [r["takedown_lists__score"] for r in out] == [0, 1, 1, 1, 0, 0, 0]
    assert out[3]["takedown_lists__evidence"].startswith("list:pdqs@v1 type:pdq distance:")
    assert out[4]["takedown_lists__evidence"].startswith("image undecodable")
    errors = [r["takedown_lists__error"] for r in out]
    assert errors[4].startswith("image_error: image undecodable")
    assert errors[5].startswith("pdq_low_quality: pdq quality")
    assert [e is None for i, e in enumerate(errors) if i not in (4, 5)] == [True] * 5
    assert det.counters["image_errors"] == 1
    assert det.counters["pdq_low_quality"] == 1
    assert det.counters["image_missing"] == 1
    assert det.counters["rows_matched"] == 3

    # Without the shard path there are no images to check: URL-only, nothing fires.
    plain = det.run(_batch(rows)).column("takedown_lists__score").to_pylist()
    assert plain == [0.0] * len(rows)


def test_match_becomes_blocked_and_removed(tmp_path: Path) -> None:
    store = ListStore(tmp_path / "home")
    store.add("hotline", [_lines(tmp_path / "u.txt", ["https://e.com/listed.jpg"])], "url")
    det = TakedownLists(home=str(tmp_path / "home"))
    policy = Policy(rules=[RULE])
    findings, counts = decide_batch(
        _batch([{"url": "https://e.com/listed.jpg"}, {"url": "https://e.com/ok.jpg"}]),
        [det],
        policy,
    )
    assert counts["blocked"] == 1 and counts["clean"] == 1
    row = findings.to_pylist()[0]
    assert (row["risk"], row["action"], row["rule"]) == ("blocked", "remove", RULE["name"])
    reason = row["reasons"][0]
    assert reason["detector"] == "takedown_lists"
    assert reason["evidence"] == "list:hotline@v1 type:url"


def test_scan_end_to_end_with_tar_and_lists_option(tmp_path: Path, monkeypatch, images) -> None:
    from childguard.cli import app

    rows = [
        {"key": k, "url": f"https://e.com/{k}.jpg", "caption": "a view", "image": v}
        for k, v in images.items()
    ]
    shard = write_img2dataset_shard(tmp_path / "data", "00000", rows)
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    store = ListStore()
    store.add("urls", [_lines(tmp_path / "u.txt", ["https://e.com/000000000.jpg"])], "url")
    store.add(
        "md5s", [_lines(tmp_path / "m.txt", [hashlib.md5(images["000000002"]).hexdigest()])], "md5"
    )
    pol = tmp_path / "policy.toml"
    pol.write_text(
        'version = "t"\ndetectors = ["takedown_lists"]\n[[rules]]\n'
        'name = "takedown_list_match"\nrisk = "blocked"\nwhen = "takedown_lists"\n'
    )
    out = tmp_path / "audit"
    res = CliRunner().invoke(
        app,
        [
            "scan",
            str(shard),
            "--out",
            str(out),
            "--policy",
            str(pol),
            "--no-progress",
            "--workers",
            "1",
            "--lists",
            "urls,md5s",
        ],
    )
    assert res.exit_code == 0, res.output
    findings = pl.concat([pl.read_parquet(p) for p in (out / "findings").glob("*.parquet")])
    assert findings["row_index"].to_list() == [0, 2]
    assert set(findings["risk"]) == {"blocked"} and set(findings["action"]) == {"remove"}
    ev = [r[0]["evidence"] for r in findings["reasons"].to_list()]
    assert ev == ["list:urls@v1 type:url", "list:md5s@v1 type:md5"]
    run = json.loads((out / "run.json").read_text())
    det = next(d for d in run["detectors"] if d["name"] == "takedown_lists")
    assert [(x["name"], x["version"]) for x in det["lists"]] == [("urls", 1), ("md5s", 1)]
    assert "e.com" not in (out / "run.json").read_text()


def test_reference_pdq_images_match_their_published_hashes() -> None:
    """The detector's hashing path on the ThreatExchange images hits the published hashes."""
    from .test_pdq import PDQ_DATA

    csv_rows = (PDQ_DATA / "PDQMD5TestData.csv").read_text().splitlines()[1:]
    listed = [r.split(",")[1] for r in csv_rows if "/misc-images/" in r or "/bridge-mods/" in r]
    from childguard.lists.pdq import PDQIndex, hex_to_bytes

    index = PDQIndex.build(hex_to_bytes(listed))
    img = (PDQ_DATA / "images" / "bridge-mods__blur-a-lot.jpg").read_bytes()
    h, quality = pdq_hash(img)
    q, _, d = index.search(np.frombuffer(h, np.uint8).reshape(1, 32))
    assert quality >= 80 and len(q) > 0 and d.min() <= 10


def test_unknown_list_fails_at_construction(tmp_path: Path) -> None:
    from childguard.lists.store import ListStoreError

    with pytest.raises(ListStoreError, match="no list named 'nope'"):
        TakedownLists(home=str(tmp_path), lists=["nope"])


def test_scan_lists_rows_it_could_not_check(tmp_path: Path, monkeypatch, images) -> None:
    """An undecodable image is not silently clean: errors/ lists it, stats count it."""
    from childguard.cli import app

    rows = [
        {"key": k, "url": f"https://e.com/{k}.jpg", "caption": "a view", "image": v}
        for k, v in images.items()
    ]
    rows[1]["image"] = b"\xff\xd8 broken"
    shard = write_img2dataset_shard(tmp_path / "data", "00000", rows)
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    ListStore().add("pdqs", [_lines(tmp_path / "p.txt", [pdq_hash(near_copy(3))[0].hex()])], "pdq")
    pol = tmp_path / "policy.toml"
    pol.write_text(
        'version = "t"\ndetectors = ["takedown_lists"]\n[[rules]]\n'
        'name = "takedown_list_match"\nrisk = "blocked"\nwhen = "takedown_lists"\n'
    )
    out = tmp_path / "audit"
    args = [
        "scan",
        str(shard),
        "--out",
        str(out),
        "--policy",
        str(pol),
        "--no-progress",
        "--workers",
        "1",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "could not be fully checked by takedown_lists" in res.output
    errors = pl.concat([pl.read_parquet(p) for p in (out / "errors").glob("*.parquet")])
    assert errors["row_index"].to_list() == [1]
    assert errors["detector"].to_list() == ["takedown_lists"]
    assert errors["error"][0].startswith("image_error")
    stats = json.loads(next((out / "stats").glob("*.json")).read_text())
    assert stats["row_errors"] == {"takedown_lists": 1}
    assert json.loads((out / "run.json").read_text())["summary"]["row_errors"] == {
        "takedown_lists": 1
    }


def test_report_warns_about_rows_not_checked(tmp_path: Path, monkeypatch, images) -> None:
    from childguard.report import build_report

    test_scan_lists_rows_it_could_not_check(tmp_path, monkeypatch, images)
    data = build_report(tmp_path / "audit", tmp_path / "r.html").data
    assert data["totals"]["row_errors"] == {"takedown_lists": 1}
    assert any("could not be fully checked by takedown_lists" in w for w in data["warnings"])
