"""scan -> release -> verify -> apply to an img2dataset copy, through the real CLI."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from childguard.cli import app
from childguard.policy import SHIPPED_POLICIES
from childguard.release.img2dataset import sample_key
from release.helpers import img2dataset_shard

N = 48


def _captions() -> list[str]:
    out = []
    for i in range(N):
        if i % 8 == 1:
            out.append("my son Lucas, 7 years old, at his school Escola Municipal Santos Dumont")
        elif i % 8 == 5:
            out.append("a cute baby girl smiling at the park")
        else:
            out.append(f"a red car number {i} parked on the street")
    return out


def _invoke(*args: str) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def test_scan_release_apply_img2dataset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHILDGUARD_HOME", str(tmp_path / "home"))
    urls = [f"https://cdn{i % 3}.example.org/img/{i}.jpg" for i in range(N)]
    caps = _captions()
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"url": urls, "caption": caps}), data / "input.parquet")
    (tmp_path / "takedown.txt").write_text(f"{urls[10]}\n{urls[30]}\n")
    policy = tmp_path / "policy.toml"
    default = (SHIPPED_POLICIES / "rules.toml").read_text()  # known decisions on these rows
    first_rule = default.index("[[rules]]")
    policy.write_text(
        default[:first_rule]
        + '[[rules]]\nname = "takedown"\nrisk = "blocked"\nwhen = "takedown_lists"\n\n'
        + default[first_rule:]
    )

    _invoke("lists", "add", "urls-demo", tmp_path / "takedown.txt")
    audit = tmp_path / "audit"
    _invoke("scan", data, "--out", audit, "--policy", policy, "--workers", "1", "--no-progress")
    findings = pl.read_parquet(next((audit / "findings").glob("*.parquet")))
    risk = dict(findings.select("row_index", "risk").iter_rows())
    assert risk[10] == risk[30] == "blocked"
    assert {risk[i] for i in range(1, N, 8)} == {"identifiable_child"}
    assert {risk[i] for i in range(5, N, 8)} == {"child"}

    rel = tmp_path / "release"
    out = _invoke("release", audit, "--out", rel, "--id", "2026-11")
    assert "release 2026-11" in out
    _invoke("verify", rel)
    meta = json.loads((rel / "manifest.json").read_text())
    assert meta["counts"]["by_reason"] == {"blocked": 2, "held": 6, "identifiable_child": 6}
    man = pl.read_parquet(rel / "manifest.parquet")
    assert set(man.filter(pl.col("reason") == "blocked")["source"]) == {"list:urls-demo@v1"}
    gone_rows = set(risk)
    kept = pq.read_table(rel / "data/input.parquet").column("url").to_pylist()
    assert kept == [u for i, u in enumerate(urls) if i not in gone_rows]

    # a lab's img2dataset copy of the same URLs: two webdataset shards
    copy = tmp_path / "copy"
    for s in (0, 1):
        img2dataset_shard(copy, s, urls[s * 24 : (s + 1) * 24], caps[s * 24 : (s + 1) * 24])
    originals = {}
    for tar in sorted(copy.glob("*.tar")):
        with tarfile.open(tar) as tf:
            originals[tar.name] = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}
    report = _invoke("apply", rel, copy, "--out", tmp_path / "clean")
    assert "written" in report and "rewritten" not in report
    # held samples said apart in each tar's line (sidecar and companion row agree)
    held = {i for i, r in risk.items() if r == "child"} & set(range(48))
    for s in (0, 1):
        line = next(x for x in report.splitlines() if f"{s:05d}.tar ->" in x)
        n_held = len([i for i in held if s * 24 <= i < (s + 1) * 24])
        assert (f"({n_held} held for review)" in line) == bool(n_held), line
    gone_urls = {urls[i] for i in gone_rows}
    for name, members in originals.items():
        shard = int(name[:5])
        with tarfile.open(tmp_path / "clean" / name) as tf:
            after = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}
        for member, payload in members.items():
            i = shard * 24 + int(sample_key(member)[-4:])
            if urls[i] in gone_urls:
                assert member not in after
            else:
                assert after[member] == payload
        assert any(urls[shard * 24 + int(k[-4:])] in gone_urls for k in map(sample_key, members))
        meta_rows = pq.read_table(tmp_path / "clean" / f"{shard:05d}.parquet").to_pylist()
        assert not {r["url"] for r in meta_rows} & gone_urls
        assert len(meta_rows) == 24 - sum(urls[shard * 24 + j] in gone_urls for j in range(24))
