"""On-disk records: old files (no version fields) read as format 1, newer ones and hashes of
another URL normaliser are refused with the file named, and fields other steps add survive."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from childguard.config import ScanConfig
from childguard.engine.local import run_scan
from childguard.engine.run import ScanConfigMismatch
from childguard.formats import FormatError
from childguard.formats.manifest import ReleaseManifest
from childguard.formats.markers import TaskMarker
from childguard.formats.run import RunRecord
from childguard.formats.stats import ShardStats
from childguard.release.apply import ApplyError, apply_manifest
from childguard.release.build import ReleaseError, build_release
from childguard.release.verify import verify_release
from childguard.urls import URL_NORM_VERSION
from release.helpers import decisions_frame


def _edit(path: Path, **fields) -> None:
    doc = json.loads(path.read_text())
    doc.update(fields)
    path.write_text(json.dumps(doc))


def test_old_records_read_as_version_1_and_newer_ones_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "task-000000.done.json"
    marker.write_text(json.dumps({"rows": 3, "risk_counts": {"clean": 3}, "seconds": 0.1}))
    m = TaskMarker.read(marker)
    assert (m.format_version, m.rows, m.row_errors) == (1, 3, {})
    _edit(marker, format_version=2)
    with pytest.raises(FormatError, match=r"task-000000\.done\.json: task marker format 2"):
        TaskMarker.read(marker)
    stats = tmp_path / "s.json"
    stats.write_text(json.dumps({"shard_id": "x", "rows": 2, "risk_counts": {"clean": 2}}))
    with pytest.raises(FormatError, match=r"s\.json: missing field 'status'"):
        ShardStats.read(stats)
    _edit(stats, status="ok", rows=-1)
    with pytest.raises(FormatError, match=r"s\.json: field 'rows'"):
        ShardStats.read(stats)
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"tool": "childguard", "inputs": [], "rematch": {"n": 1}}))
    rec = RunRecord.read(run)
    assert rec.format_version == 1 and rec.url_norm_version is None
    assert rec.dump()["rematch"] == {"n": 1}  # a field this version does not know is kept


def _scan(data: Path, out: Path):
    cfg = ScanConfig(inputs=[str(data)], out=str(out), workers=1)
    return run_scan(cfg, progress=False)


def test_scan_stamps_versions_keeps_added_records_and_refuses_another_normaliser(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    urls = [f"https://example.org/{i}.jpg" for i in range(40)]
    texts = ["little girl with kite" if i % 4 == 0 else "mountain" for i in range(40)]
    pq.write_table(pa.table({"URL": urls, "TEXT": texts}), data / "p.parquet")
    out = tmp_path / "audit"
    assert _scan(data, out).ok
    run = json.loads((out / "run.json").read_text())
    assert run["url_norm_version"] == URL_NORM_VERSION and run["format_version"] == 1
    (stats,) = (out / "stats").glob("*.json")
    assert json.loads(stats.read_text())["format_version"] == 1

    _edit(out / "run.json", rematch={"lists": ["l@1"], "rows": 3})  # another step's record
    assert _scan(data, out).ok  # a resume rewrites run.json ...
    assert json.loads((out / "run.json").read_text())["rematch"] == {"lists": ["l@1"], "rows": 3}

    _edit(out / "run.json", url_norm_version=URL_NORM_VERSION + 1)
    with pytest.raises(ScanConfigMismatch, match="URL normalisation version 2"):
        _scan(data, out)
    with pytest.raises(ReleaseError, match=r"run\.json: its url_sha256 values were made"):
        build_release(out, tmp_path / "rel", decisions=decisions_frame([]))
    assert not (tmp_path / "rel").exists()


def test_release_stamps_and_apply_verify_refuse_another_normaliser(audit, dataset, tmp_path):
    a, _ = audit  # written without any version field, as before versions were recorded
    rel = tmp_path / "rel"
    build_release(a, rel, decisions=decisions_frame([]))
    meta = ReleaseManifest.read(rel / "manifest.json")
    assert meta.url_norm_version == URL_NORM_VERSION
    assert "format_version" not in json.loads((rel / "manifest.json").read_text())
    assert verify_release(rel).ok

    _edit(rel / "manifest.json", url_norm_version=URL_NORM_VERSION + 1)
    with pytest.raises(ApplyError, match="URL normalisation version 2"):
        apply_manifest(rel, [dataset])
    rep = verify_release(rel)
    assert any("URL normalisation version 2" in p for p in rep.problems)
    with pytest.raises(ReleaseError, match="its removals cannot be carried"):
        build_release(a, tmp_path / "rel2", parent=rel, decisions=decisions_frame([]))


def test_a_url_list_of_another_normaliser_is_refused(tmp_path: Path) -> None:
    from childguard.lists.store import ListStore, ListStoreError

    src = tmp_path / "urls.txt"
    src.write_text("https://example.org/a.jpg\n")
    store = ListStore(tmp_path / "home")
    store.add("blocked", [str(src)], "url")
    meta_path = tmp_path / "home" / "lists" / "blocked" / "list.json"
    if not meta_path.exists():
        meta_path = next((tmp_path / "home").rglob("list.json"))
    assert json.loads(meta_path.read_text())["url_norm_version"] == URL_NORM_VERSION
    assert len(store.load("blocked")) == 1
    _edit(meta_path, url_norm_version=URL_NORM_VERSION + 1)
    with pytest.raises(ListStoreError, match="import the list again"):
        store.load("blocked")
    with pytest.raises(ListStoreError, match="URL normalisation version 2"):
        store.add("blocked", [str(src)], "url")
