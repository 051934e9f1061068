"""`apply` on img2dataset outputs (webdataset tars and files folders) and its modes."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.release.apply import ApplyError, apply_manifest
from childguard.release.build import build_release
from childguard.release.img2dataset import sample_key
from release.helpers import decisions_frame, img2dataset_shard, make_audit, rows

N = 24  # URLs per img2dataset shard; every 4th failed to download


def _urls(shard_no: int) -> tuple[list[str], list[str]]:
    r = rows(N, start=shard_no * N, tag="i")
    return [x["url"] for x in r], [x["caption"] for x in r]


@pytest.fixture
def released(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """The metadata dataset, its release, and the URLs the release removed (or holds)."""
    src = tmp_path / "meta"
    src.mkdir()
    all_urls = _urls(0)[0] + _urls(1)[0]
    all_caps = _urls(0)[1] + _urls(1)[1]
    pq.write_table(pa.table({"url": all_urls, "caption": all_caps}), src / "input.parquet")
    # removed: samples 1, 5 of shard 0 and 26 (shard 1, i=2); held: 4; 3 and 27 failed downloads
    flagged = {1: "identifiable_child", 5: "blocked", 26: "blocked", 4: "child", 3: "blocked"}
    make_audit(tmp_path / "audit", [src / "input.parquet"], {"input.parquet": flagged})
    build_release(tmp_path / "audit", tmp_path / "rel", decisions=decisions_frame([]))
    gone = {all_urls[i] for i in flagged}
    return tmp_path / "rel", src, gone


def _copy(root: Path, fmt: str) -> Path:
    for s in (0, 1):
        urls, caps = _urls(s)
        img2dataset_shard(root, s, urls, caps, fmt=fmt)
    return root


def _members(tar: Path) -> dict[str, bytes]:
    with tarfile.open(tar) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


def _url_by_key(folder: Path) -> dict[str, str]:
    out = {}
    for s in (0, 1):
        for r in pq.read_table(folder / f"{s:05d}.parquet").to_pylist():
            out[r["key"]] = r["url"]
    return out


def test_webdataset_copy_purged_kept_samples_identical(released, tmp_path):
    rel, _, gone = released
    copy = _copy(tmp_path / "copy", "webdataset")
    url_of = _url_by_key(copy)
    reps = apply_manifest(rel, [copy], out=tmp_path / "clean")
    by = {(Path(r.path).name, r.kind): r for r in reps}
    assert by[("00000.tar", "tar")].removed == 4 - 1  # keys 1, 4, 5 (3 failed: no sample)
    assert by[("00001.tar", "tar")].removed == 1
    assert by[("00000.parquet", "parquet")].removed == 4  # the failed row 3 goes too
    assert by[("00000.tar", "tar")].units == 18

    for s in (0, 1):
        before = _members(copy / f"{s:05d}.tar")
        after = _members(tmp_path / "clean" / f"{s:05d}.tar")
        removed_keys = {k for k in {sample_key(n) for n in before} if url_of[k] in gone}
        assert removed_keys
        for name, data in before.items():
            if sample_key(name) in removed_keys:
                assert name not in after  # image, .txt and .json all gone
            else:
                assert after[name] == data  # byte-identical
        assert list(after) == [n for n in before if sample_key(n) not in removed_keys]
        meta = pq.read_table(tmp_path / "clean" / f"{s:05d}.parquet")
        assert not set(meta.column("url").to_pylist()) & gone
        assert meta.schema == pq.read_table(copy / f"{s:05d}.parquet").schema

    stats = json.loads((tmp_path / "clean/00000_stats.json").read_text())
    assert stats["count"] == 20 and stats["successes"] == 15
    assert stats["failed_to_download"] == 5 and stats["duration"] == 1.5
    assert stats["status_dict"] == {"HTTP 404": 5, "success": 15}
    # the original copy is untouched
    assert len(_members(copy / "00000.tar")) == 18 * 3


def test_in_place_rerun_is_noop_and_backup_only_when_asked(released, tmp_path):
    rel, _, _ = released
    copy = _copy(tmp_path / "copy", "webdataset")
    reps = apply_manifest(rel, [copy], in_place=True)
    assert sum(r.removed for r in reps) > 0
    assert not list(copy.glob("*.bak"))
    assert not list(copy.glob(".*tmp*"))
    mtimes = {p: p.stat().st_mtime_ns for p in copy.iterdir()}
    again = apply_manifest(rel, [copy], in_place=True)
    assert all(r.removed == 0 and r.status == "unchanged" for r in again)
    assert mtimes == {p: p.stat().st_mtime_ns for p in copy.iterdir()}

    copy2 = _copy(tmp_path / "copy2", "webdataset")
    orig = (copy2 / "00001.tar").read_bytes()
    apply_manifest(rel, [copy2], in_place=True, keep_backup=True)
    assert (copy2 / "00001.tar.bak").read_bytes() == orig
    assert (copy2 / "00001_stats.json.bak").exists()
    with pytest.raises(ApplyError, match="only applies with --in-place"):
        apply_manifest(rel, [copy2], keep_backup=True)


def test_files_folder_copy(released, tmp_path):
    rel, _, gone = released
    copy = _copy(tmp_path / "files", "files")
    url_of = _url_by_key(copy)
    before = {p.name: p.read_bytes() for p in (copy / "00000").iterdir()}
    reps = apply_manifest(rel, [copy], in_place=True, keep_backup=True)
    assert {(Path(r.path).name, r.kind, r.removed) for r in reps} >= {
        ("00000", "files", 3),
        ("00001", "files", 1),
    }
    after = {p.name: p.read_bytes() for p in (copy / "00000").iterdir()}
    for name, data in before.items():
        if url_of[sample_key(name)] in gone:
            assert name not in after
            assert (copy / "00000.bak" / name).read_bytes() == data
        else:
            assert after[name] == data
    again = apply_manifest(rel, [copy], in_place=True)
    assert sum(r.removed for r in again) == 0


def test_dry_run_and_out_copy_of_everything(released, tmp_path):
    rel, src, _ = released
    copy = _copy(tmp_path / "copy", "webdataset")
    (copy / "README.txt").write_text("notes")
    snapshot = {p: p.read_bytes() for p in copy.iterdir()}
    reps = apply_manifest(rel / "manifest.json", [copy])
    assert {r.status for r in reps} == {"would-rewrite"}
    assert snapshot == {p: p.read_bytes() for p in copy.iterdir()}
    out = tmp_path / "out"
    apply_manifest(rel / "manifest.parquet", [copy, src], out=out)
    assert (out / "copy/README.txt").read_text() == "notes"
    assert (out / "meta/input.parquet").exists() and (out / "copy/00001.tar").exists()
    # a second run with the same manifest skips what is done
    again = apply_manifest(rel, [copy, src], out=out)
    assert {r.status for r in again} == {"done-before"}
    with pytest.raises(ApplyError, match="inside the target"):
        apply_manifest(rel, [copy], out=copy / "sub")


def test_url_only_table_and_bad_target(released, tmp_path):
    rel, _, gone = released
    t = tmp_path / "urls_only"
    t.mkdir()
    urls = [*sorted(gone), "https://elsewhere.example.com/a.jpg"]
    pq.write_table(pa.table({"image_url": urls}), t / "list.parquet")
    reps = apply_manifest(rel, [t], in_place=True)
    assert [(r.kind, r.units, r.removed) for r in reps] == [("parquet", len(urls), len(gone))]
    assert pq.read_table(t / "list.parquet").column(0).to_pylist() == urls[-1:]
    pq.write_table(pa.table({"x": [1, 2]}), t / "nourl.parquet")
    (rep,) = apply_manifest(rel, [t / "nourl.parquet"])
    assert rep.status == "failed" and "--url-column" in rep.error
    assert "nourl.parquet" in rep.error


def test_workers_give_the_same_result(released, tmp_path):
    rel, _, _ = released
    one = _copy(tmp_path / "one", "webdataset")
    two = _copy(tmp_path / "two", "webdataset")
    r1 = apply_manifest(rel, [one], in_place=True)
    r2 = apply_manifest(rel, [two], in_place=True, workers=2)
    assert [(Path(r.path).name, r.removed) for r in r1] == [
        (Path(r.path).name, r.removed) for r in r2
    ]
    for p in sorted(one.iterdir()):
        assert p.read_bytes() == (two / p.name).read_bytes(), p.name


def test_worker_errors_reach_the_caller_as_themselves(released, tmp_path):
    rel, _, _ = released
    t = tmp_path / "bad"
    t.mkdir()
    pq.write_table(pa.table({"x": [1]}), t / "a.parquet")
    pq.write_table(pa.table({"x": [2]}), t / "b.parquet")
    (tmp_path / "bad" / "c.tar").write_bytes(b"not a tar at all" * 64)
    reps = apply_manifest(rel, [t], in_place=True, workers=2)
    assert [(Path(r.path).name, r.status) for r in reps] == [
        ("a.parquet", "failed"),
        ("b.parquet", "failed"),
        ("c.tar", "failed"),
    ]
    assert "a.parquet" in reps[0].error and "c.tar" in reps[2].error
    res = CliRunner().invoke(app, ["apply", str(rel), str(t), "--in-place"])
    assert res.exit_code == 1 and "FAILED" in res.output and "3 file(s) failed" in res.output


# --- a tar that cannot be read whole is never shortened (issue 11, item 2) -----------------
def _header_offsets(tar: Path) -> list[int]:
    with tarfile.open(tar) as tf:
        return [m.offset for m in tf.getmembers()]


@pytest.mark.parametrize("which", [1, 9, -2])
def test_a_corrupt_member_header_fails_the_tar_untouched(released, tmp_path, which):
    rel, _, _ = released
    copy = _copy(tmp_path / "copy", "webdataset")
    tar = copy / "00000.tar"
    off = _header_offsets(tar)[which]
    data = bytearray(tar.read_bytes())
    data[off + 10] ^= 0xFF  # a byte of the name: the header checksum no longer matches
    tar.write_bytes(bytes(data))
    reps = apply_manifest(rel, [copy], in_place=True)
    by = {(Path(r.path).name, r.kind): r for r in reps}
    assert by[("00000.tar", "tar")].status == "failed"
    assert "header" in by[("00000.tar", "tar")].error
    assert tar.read_bytes() == bytes(data)  # untouched
    assert by[("00001.tar", "tar")].status == "rewritten"  # the other tar goes on


def test_a_tar_cut_inside_a_member_fails_untouched(released, tmp_path):
    rel, _, _ = released
    copy = _copy(tmp_path / "copy", "webdataset")
    tar = copy / "00000.tar"
    off = _header_offsets(tar)[20]
    cut = tar.read_bytes()[: off + 512 + 100]  # the header and part of the payload
    tar.write_bytes(cut)
    (rep,) = [r for r in apply_manifest(rel, [copy], in_place=True) if r.path == str(tar)]
    assert rep.status == "failed" and "truncated" in rep.error
    assert tar.read_bytes() == cut


def test_an_unreadable_sidecar_without_a_companion_row_fails_the_tar(released, tmp_path):
    rel, _, gone = released
    copy = _copy(tmp_path / "copy", "webdataset")
    url_of = _url_by_key(copy)
    bad = next(k for k, u in sorted(url_of.items()) if u in gone and k.startswith("00000"))
    src = copy / "00000.tar"
    with tarfile.open(src) as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
    import io

    with tarfile.open(src, "w") as tf:
        for m, data in members:
            if m.name == f"{bad}.json":
                data = b"{not json"
                m.size = len(data)
            tf.addfile(m, io.BytesIO(data))
    # with its row in the companion parquet, the sample is still decided (removed)
    reps = apply_manifest(rel, [copy], out=tmp_path / "clean")
    (rep,) = [r for r in reps if r.path == str(src)]
    assert rep.status == "written"
    assert not any(sample_key(n) == bad for n in _members(tmp_path / "clean" / "00000.tar"))
    # without the companion parquet nobody can tell: the tar fails, untouched
    (copy / "00000.parquet").unlink()
    before = src.read_bytes()
    reps = apply_manifest(rel, [copy], in_place=True)
    (rep,) = [r for r in reps if r.path == str(src)]
    assert rep.status == "failed" and "unreadable .json sidecar" in rep.error
    assert src.read_bytes() == before


def test_links_in_a_files_folder_are_copied_as_links(released, tmp_path):
    """`k.jpg -> /etc/passwd` never becomes a regular file holding /etc/passwd (issue 11, 5)."""
    rel, _, _ = released
    copy = _copy(tmp_path / "copy", "files")
    kept = sorted(p for p in (copy / "00001").iterdir() if p.suffix == ".jpg")[-1]
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("not part of the dataset")
    kept.unlink()
    kept.symlink_to(outside)
    apply_manifest(rel, [copy], out=tmp_path / "clean")
    dst = tmp_path / "clean" / "00001" / kept.name
    assert dst.is_symlink() and Path(os.readlink(dst)) == outside
