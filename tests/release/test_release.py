from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.io.paths import file_sha256
from childguard.policy import load_policy
from childguard.release.apply import apply_manifest
from childguard.release.build import ReleaseError, build_release
from childguard.release.verify import verify_release
from childguard.urls import url_sha256
from release.helpers import FLAGS, decisions_frame, make_audit, write_laion_parquet

NAMES = ["a.parquet", "b.csv.gz", "c.csv", "d.tsv", "e.jsonl.zst"]


def _url_of(shard: Path, row: int) -> str:
    """The URL of a row of the test parquet (read back, not recomputed)."""
    return pq.read_table(shard, columns=["URL"]).column(0)[row].as_py()


def _same_rows(a: Path, b: Path) -> bool:
    if a.suffix == ".parquet":
        return pq.read_table(a).equals(pq.read_table(b), check_metadata=True)
    return a.read_bytes() == b.read_bytes()


def test_release_keeps_shape_and_drops_decided_rows(audit, dataset, tmp_path):
    a, ids = audit
    res = build_release(a, tmp_path / "r1", release_id="r1", decisions=decisions_frame([]))
    out = tmp_path / "r1"
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(NAMES)

    # parquet: same schema (with metadata), codec, one row group per input row group, order
    src, dst = pq.ParquetFile(dataset / "a.parquet"), pq.ParquetFile(out / "data/a.parquet")
    assert dst.schema_arrow.equals(src.schema_arrow, check_metadata=True)
    assert dst.metadata.row_group(0).column(0).compression == "ZSTD"
    assert dst.metadata.num_row_groups == src.metadata.num_row_groups
    kept = pq.read_table(out / "data/a.parquet")
    orig = pq.read_table(dataset / "a.parquet")
    gone = {3, 7, 50, 119}  # held (child) and removed rows
    expect = orig.filter(pl.Series([i not in gone for i in range(orig.num_rows)]).to_arrow())
    assert kept.equals(expect)

    # text formats: the kept records byte for byte (header, quoting, CRLF, gzip)
    b_in = gzip.decompress((dataset / "b.csv.gz").read_bytes()).decode()
    b_out = gzip.decompress((out / "data/b.csv.gz").read_bytes()).decode()
    assert b_out.startswith("url,caption,width\r\n")
    assert len(b_in) > len(b_out) and "/p/b9.jpg" in b_in and "/p/b9.jpg" not in b_out
    assert "/p/b0.jpg" not in b_out  # held for review
    assert (out / "data/c.csv").read_text().count("/p/c1.jpg") == 0

    meta = res.manifest
    by = {s["shard_id"]: s for s in meta["shards"]}
    for name, flags in FLAGS.items():
        s = by[ids[name]]
        assert s["rows_in"] == s["rows_out"] + s["rows_removed"]
        assert s["rows_removed"] == len(flags)
    assert meta["counts"]["by_reason"] == {"blocked": 3, "held": 3, "identifiable_child": 3}
    assert meta["parent_id"] is None and meta["config_hash"] == "cfg123"

    man = pq.read_table(out / "manifest.parquet")
    assert man.column_names == ["url_sha256", "laion_hash", "reason", "source", "removed_in"]
    df = pl.from_arrow(man)
    assert set(df["removed_in"]) == {"r1"}
    assert url_sha256(_url_of(dataset / "a.parquet", 119)) in df["url_sha256"].to_list()
    assert df.filter(pl.col("reason") == "blocked")["source"].unique().to_list() == ["list:ncmec@3"]
    assert set(df.filter(pl.col("reason") == "held")["source"]) == {"terms"}
    # nothing of the removed rows' text: no URL or caption anywhere in the manifest files
    blob = (out / "manifest.parquet").read_bytes() + (out / "manifest.json").read_bytes()
    assert b"example.com" not in blob and b"photo" not in blob

    assert verify_release(out).ok


def test_applying_manifest_to_original_gives_the_release(audit, dataset, tmp_path):
    a, _ = audit
    build_release(a, tmp_path / "r1", release_id="r1", decisions=decisions_frame([]))
    reports = apply_manifest(tmp_path / "r1", [dataset], out=tmp_path / "copy")
    assert {Path(r.path).name: r.removed for r in reports} == {n: len(FLAGS[n]) for n in NAMES}
    for n in NAMES:
        assert _same_rows(tmp_path / "copy" / n, tmp_path / "r1/data" / n), n


def test_incremental_release_carries_removals_and_restores_kept(audit, dataset, tmp_path):
    a, ids = audit
    sid = ids["a.parquet"]
    shard = dataset / "a.parquet"
    u = {i: url_sha256(_url_of(shard, i)) for i in (3, 7, 50, 60)}
    build_release(a, tmp_path / "r1", release_id="r1", decisions=decisions_frame([]))

    # reviewers: keep held row 3, keep row 50 (removed for cause in r1: must stay out),
    # remove held row 7; a guardian request removes row 60 that no detector flagged
    dec = decisions_frame(
        [
            (sid, 3, u[3], "keep", None),
            (sid, 50, u[50], "keep", None),
            (sid, 7, u[7], "remove", None),
            (sid, 60, u[60], "remove", "REQ-9"),
        ]
    )
    res = build_release(a, tmp_path / "r2", parent=tmp_path / "r1", release_id="r2", decisions=dec)
    assert res.manifest["parent_id"] == "r1"
    man = pl.read_parquet(tmp_path / "r2/manifest.parquet")
    row = {h: r for h, *r in man.select("url_sha256", "reason", "source", "removed_in").rows()}
    assert u[3] not in row
    assert row[u[50]] == ["identifiable_child", "terms", "r1"]
    assert row[u[7]] == ["child", "terms", "r1"]  # held since r1, now removed for cause
    assert row[u[60]] == ["request", "request:REQ-9", "r2"]
    restored = pl.read_parquet(tmp_path / "r2/restored.parquet")
    assert restored.select("url_sha256", "held_in", "restored_in").rows() == [(u[3], "r1", "r2")]
    assert res.manifest["counts"]["restored"] == 1
    # every r1 entry except the restored one is still in r2
    r1 = pl.read_parquet(tmp_path / "r1/manifest.parquet")
    assert set(r1["url_sha256"]) - set(man["url_sha256"]) == {u[3]}

    kept = pq.read_table(tmp_path / "r2/data/a.parquet").column("URL").to_pylist()
    assert _url_of(shard, 3) in kept and _url_of(shard, 50) not in kept
    assert _url_of(shard, 60) not in kept

    # the invariant holds for release 2 as well
    apply_manifest(tmp_path / "r2", [dataset], out=tmp_path / "copy2")
    for n in NAMES:
        assert _same_rows(tmp_path / "copy2" / n, tmp_path / "r2/data" / n), n
    assert verify_release(tmp_path / "r2").ok

    # r3 from r2 with no decisions: nothing reappears, nothing new
    res3 = build_release(
        a, tmp_path / "r3", parent=tmp_path / "r2", release_id="r3", decisions=decisions_frame([])
    )
    man3 = pl.read_parquet(tmp_path / "r3/manifest.parquet")
    assert set(man3["url_sha256"]) >= set(man["url_sha256"])
    assert res3.manifest["counts"]["restored"] == 0


def test_duplicate_urls_across_shards_go_together(tmp_path):
    """The same URL in two shards: removing it for cause removes every copy (apply would)."""
    d = tmp_path / "ds"
    write_laion_parquet(d / "x.parquet", 30, tag="same")
    write_laion_parquet(d / "y.parquet", 30, tag="same")
    make_audit(tmp_path / "audit", [d], {"x.parquet": {4: "blocked"}})
    res = build_release(tmp_path / "audit", tmp_path / "r", decisions=decisions_frame([]))
    assert [s["rows_removed"] for s in res.shards] == [1, 1]


def test_review_default_keep_and_release_policy(audit, tmp_path):
    a, _ = audit
    res = build_release(a, tmp_path / "rk", review_default="keep", decisions=decisions_frame([]))
    assert "held" not in res.manifest["counts"]["by_reason"]
    pf = tmp_path / "strict.toml"
    pf.write_text(
        '[[rules]]\nname = "r"\nrisk = "child"\nwhen = "terms"\n\n'
        '[actions]\nchild = "remove"\nblocked = "remove"\nidentifiable_child = "review"\n'
    )
    pol = load_policy(pf)
    res2 = build_release(a, tmp_path / "rp", policy=pf, decisions=decisions_frame([]))
    assert res2.manifest["counts"]["by_reason"] == {"blocked": 3, "child": 3, "held": 3}
    assert res2.manifest["policy_hash"] == pol.fingerprint()


def test_conservation_mismatch_aborts_and_publishes_nothing(audit, tmp_path):
    a, ids = audit
    st = a / "stats" / f"{ids['c.csv']}.json"
    d = json.loads(st.read_text())
    d["rows"] += 1
    st.write_text(json.dumps(d))  # the stats no longer add up: refused as they are read
    with pytest.raises(ReleaseError, match=r"risk_counts add up to 30, but rows is 31"):
        build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    d["risk_counts"]["clean"] += 1
    st.write_text(json.dumps(d))  # consistent stats, but not what the shard holds
    with pytest.raises(ReleaseError, match=r"c\.csv: read 30 rows, the scan counted 31"):
        build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    assert not (tmp_path / "r").exists()
    assert not list(tmp_path.glob(".r.tmp-*"))


def test_stale_findings_abort(audit, tmp_path):
    a, ids = audit
    fp = a / "findings" / f"{ids['a.parquet']}.parquet"
    df = pl.read_parquet(fp).with_columns(
        pl.lit("0" * 64).alias("url_sha256"), pl.lit(1, pl.Int64).alias("laion_hash")
    )
    df.write_parquet(fp)
    with pytest.raises(ReleaseError, match="decided out but its hashes do not match"):
        build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    assert not (tmp_path / "r").exists()


def test_unscanned_shard_aborts(audit, tmp_path):
    a, ids = audit
    st = a / "stats" / f"{ids['d.tsv']}.json"
    d = json.loads(st.read_text())
    d["status"] = "failed"
    st.write_text(json.dumps(d))
    with pytest.raises(ReleaseError, match="status 'failed'"):
        build_release(a, tmp_path / "r", decisions=decisions_frame([]))


def test_verify_names_the_bad_file(audit, tmp_path):
    a, _ = audit
    build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    r = tmp_path / "r"
    assert verify_release(r).ok
    p = r / "data/c.csv"
    p.write_bytes(p.read_bytes().replace(b"photo", b"phot0"))
    (r / "data/extra.csv").write_text("url,text\n")
    probs = verify_release(r).problems
    assert any(str(p) in x and "SHA-256" in x for x in probs)
    assert any("extra.csv: not listed" in x for x in probs)

    res = CliRunner().invoke(app, ["verify", str(r)])
    assert res.exit_code == 1 and "c.csv" in res.output


def test_verify_recounts_rows(audit, tmp_path):
    a, _ = audit
    build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    r = tmp_path / "r"
    meta = json.loads((r / "manifest.json").read_text())
    s = next(s for s in meta["shards"] if s["name"] == "data/d.tsv")
    s["rows_out"] -= 1
    s["rows_removed"] += 1
    (r / "manifest.json").write_text(json.dumps(meta))
    probs = verify_release(r).problems
    assert any("d.tsv: 24 rows != rows_out 23" in x for x in probs)


def test_cli_release_verify_apply(audit, dataset, tmp_path):
    a, _ = audit
    runner = CliRunner()
    r = tmp_path / "rel"
    res = runner.invoke(app, ["release", str(a), "--out", str(r), "--id", "v1"])
    assert res.exit_code == 0, res.output
    # held rows are said apart from removed ones (rows_removed keeps counting both)
    assert "release v1" in res.output and "6 removed, 3 held for review;" in res.output
    assert "9 removed" not in res.output
    c = json.loads((r / "manifest.json").read_text())["counts"]
    assert (c["rows_removed"], c["rows_removed_for_cause"], c["rows_held"]) == (9, 6, 3)
    res = runner.invoke(app, ["apply", str(r), str(dataset), "--out", str(tmp_path / "copy")])
    assert res.exit_code == 0, res.output
    assert "rewritten" not in res.output  # the input is untouched: the copy is written
    line = next(x for x in res.output.splitlines() if "a.parquet" in x)
    assert line.split()[0] == "written" and f"-> {tmp_path / 'copy'}" in line
    assert "held for review" in line
    assert "6 removed, 3 held for review (done; the purged copy is in" in res.output
    res = runner.invoke(app, ["verify", str(r)])
    assert res.exit_code == 0 and "OK" in res.output
    res = runner.invoke(app, ["release", str(a), "--out", str(r)])
    assert res.exit_code == 1 and "already exists" in res.output
    # dry run: reports, writes nothing
    before = {p: p.stat().st_mtime_ns for p in dataset.iterdir()}
    res = runner.invoke(app, ["apply", str(r / "manifest.parquet"), str(dataset)])
    assert res.exit_code == 0 and "would-rewrite" in res.output and "dry run" in res.output
    assert before == {p: p.stat().st_mtime_ns for p in dataset.iterdir()}
    res = runner.invoke(app, ["apply", str(r), str(dataset), "--in-place", "--keep-backup"])
    assert res.exit_code == 0, res.output
    assert (dataset / "a.parquet.bak").exists()
    res = runner.invoke(app, ["apply", str(r), str(dataset), "--in-place"])
    assert "rewritten" not in res.output and "0 removed" in res.output


def test_release_with_worker_processes_matches_single(audit, tmp_path):
    a, _ = audit
    build_release(a, tmp_path / "w1", release_id="w", decisions=decisions_frame([]))
    build_release(a, tmp_path / "w2", release_id="w", decisions=decisions_frame([]), workers=2)
    for p in sorted((tmp_path / "w1").rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            assert p.read_bytes() == (tmp_path / "w2" / p.relative_to(tmp_path / "w1")).read_bytes()


def test_per_column_codecs_kept(tmp_path):
    d = tmp_path / "ds"
    t = write_laion_parquet(d / "m.parquet", 50, tag="m")
    pq.write_table(
        t,
        d / "m.parquet",
        row_group_size=20,
        compression={
            "URL": "zstd",
            "TEXT": "snappy",
            "WIDTH": "gzip",
            "similarity": "none",
            "hash": "zstd",
        },
    )
    make_audit(tmp_path / "audit", [d], {"m.parquet": {2: "blocked"}})
    build_release(tmp_path / "audit", tmp_path / "r", decisions=decisions_frame([]))
    src, dst = pq.ParquetFile(d / "m.parquet"), pq.ParquetFile(tmp_path / "r/data/m.parquet")
    codec = lambda f: [f.metadata.row_group(0).column(i).compression for i in range(5)]  # noqa: E731
    assert codec(dst) == codec(src) == ["ZSTD", "SNAPPY", "GZIP", "UNCOMPRESSED", "ZSTD"]
    assert [dst.metadata.row_group(i).num_rows for i in range(3)] == [19, 20, 10]
    # a release folder given as a target: its own manifest files are not dataset shards
    reps = apply_manifest(tmp_path / "r", [tmp_path / "r"])
    assert [Path(r.path).name for r in reps] == ["m.parquet"] and reps[0].removed == 0


def test_shard_changed_since_scan_aborts(audit, dataset, tmp_path):
    a, _ = audit
    with open(dataset / "c.csv", "ab") as f:
        f.write(b"https://late.example.com/x.jpg,added after the scan,1\r\n")
    with pytest.raises(ReleaseError, match=r"c\.csv: size changed since the scan"):
        build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    assert not (tmp_path / "r").exists()


def test_verify_flags_restored_entries_left_in_manifest(audit, tmp_path):
    a, _ = audit
    build_release(a, tmp_path / "r", decisions=decisions_frame([]))
    r = tmp_path / "r"
    man = pq.read_table(r / "manifest.parquet")
    rest = pa.table(
        {
            "url_sha256": man.column("url_sha256").slice(0, 1),
            "laion_hash": man.column("laion_hash").slice(0, 1),
            "held_in": ["r0"],
            "restored_in": ["r1"],
        }
    )
    pq.write_table(rest.cast(pq.read_schema(r / "restored.parquet")), r / "restored.parquet")
    meta = json.loads((r / "manifest.json").read_text())
    meta["files"]["restored.parquet"].update(
        sha256=file_sha256(r / "restored.parquet"),
        size=(r / "restored.parquet").stat().st_size,
        rows=1,
    )
    (r / "manifest.json").write_text(json.dumps(meta))
    probs = verify_release(r).problems
    assert probs == [f"{r / 'restored.parquet'}: 1 restored entr(ies) still in manifest.parquet"]


def test_guardian_removal_of_a_row_without_url(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    pq.write_table(
        pa.table(
            {
                "url": ["https://a.example.com/1.jpg", None, "https://a.example.com/3.jpg"],
                "text": ["one", "two", "three"],
            }
        ),
        d / "n.parquet",
    )
    ids = make_audit(tmp_path / "audit", [d], {})
    dec = decisions_frame([(ids["n.parquet"], 1, None, "remove", "REQ-2")])
    res = build_release(tmp_path / "audit", tmp_path / "r", decisions=dec)
    assert res.manifest["counts"]["unmatchable"] == 1
    assert res.shards[0]["rows_removed"] == 1
    assert pq.read_table(tmp_path / "r/data/n.parquet").column("text").to_pylist() == [
        "one",
        "three",
    ]
    assert pq.read_table(tmp_path / "r/manifest.parquet").num_rows == 0
    assert verify_release(tmp_path / "r").ok


def test_binary_url_column_with_invalid_utf8(tmp_path):
    """Key columns become text as the scan's reader made them, so hashes agree."""
    d = tmp_path / "ds"
    d.mkdir()
    urls = [
        b"https://a.example.com/1.jpg",
        b"https://a.example.com/\xff2.jpg",
        b"https://a.example.com/3.jpg",
    ]
    pq.write_table(
        pa.table({"url": pa.array(urls, pa.binary()), "text": ["a", "b", "c"]}), d / "b.parquet"
    )
    make_audit(tmp_path / "audit", [d], {"b.parquet": {1: "blocked"}})
    res = build_release(tmp_path / "audit", tmp_path / "r", decisions=decisions_frame([]))
    assert res.shards[0]["rows_removed"] == 1
    assert pq.read_table(tmp_path / "r/data/b.parquet").column("text").to_pylist() == ["a", "c"]


def test_manifest_credits_the_detector_the_rule_reads() -> None:
    """Two detectors fire; the manifest's source is the one the deciding rule reads (a rule
    parser that gave up on the first non-name node used to credit the first reason)."""
    import polars as pl

    from childguard.release.build import _rule_detectors, _sources

    run = {
        "policy": {
            "rules": [
                {"name": "named_child", "when": "names"},
                {"name": "minor_subject", "when": "child_terms or ages"},
                {"name": "likely", "when": "scorer >= 0.35 and not handles"},
            ]
        }
    }
    rule_dets = _rule_detectors(run)
    assert rule_dets == {
        "named_child": ["names"],
        "minor_subject": ["child_terms", "ages"],
        "likely": ["scorer", "handles"],
    }
    reason = {"label": None, "evidence": None, "version": "1", "score": 1.0, "threshold": 0.5}
    findings = pl.DataFrame(
        {
            "reasons": [
                [{**reason, "detector": "ages"}, {**reason, "detector": "names"}],
                [{**reason, "detector": "names"}, {**reason, "detector": "scorer"}],
            ],
            "rule": ["named_child", "likely"],
            "risk": ["identifiable_child", "identifiable_child"],
        }
    )
    assert _sources(findings, rule_dets).to_list() == ["names", "scorer"]
