"""The report answers a rights group's questions (issue 12, item 8): flagged rows per language,
hosting platform, site type, URL year and place, counted by the scan, with small hosts grouped
and no caption, URL or name in the report."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from childguard.config import ScanConfig
from childguard.engine.facets import HOST_MIN, facet_counts, hashed, platform, seal
from childguard.engine.local import run_scan
from childguard.policy import Policy
from childguard.report import build_report
from report.helpers import POLICY as PROBE_POLICY  # registers the probe detector

POLICY = Policy.model_validate(
    {**PROBE_POLICY.model_dump(), "version": "facets-1", "detectors": ["report_probe", "places"]}
)
# hosts that name a child: each under HOST_MIN flagged rows, so never printed
SMALL_HOSTS = [f"zyxandra-quillfeather-{i}.example" for i in range(4)]


def _rows() -> tuple[list[dict], list[dict]]:
    """Two shards. The big platform has 25 flagged rows in the first shard (named there) and 5
    in the second (hashed there): the report must still count all 30."""
    a, b = [], []
    for i in range(25):
        a.append((f"https://fotos.bigblog.com.br/2019/05/{i}.jpg", "girl na Bahia", "pt"))
    for i in range(5):
        b.append((f"https://x{i}.bigblog.com.br/2021/{i}.jpg", "girl playing", "en"))
    for h in SMALL_HOSTS:
        for i in range(3):
            b.append((f"https://{h}/img/{i}.jpg", "girl at the beach in Hamburg", None))
    for i in range(40):  # clean rows: counted nowhere
        a.append((f"https://shop.example.com/{i}.jpg", "red shoes", "en"))
    cols = ("URL", "TEXT", "LANGUAGE")
    return [dict(zip(cols, r, strict=True)) for r in a], [
        dict(zip(cols, r, strict=True)) for r in b
    ]


def _scan(root: Path) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    for name, rows in zip(("a", "b"), _rows(), strict=True):
        pq.write_table(pa.Table.from_pylist(rows), src / f"part-{name}.parquet")
    run_scan(
        ScanConfig(inputs=[str(src)], out=str(root / "audit"), workers=1), POLICY, progress=False
    )
    return root / "audit"


def _table(facets: dict, key: str) -> dict[str, int]:
    return {r["name"]: r["rows"] for r in facets[key]}


def test_report_counts_flagged_rows_per_language_host_year_and_place(tmp_path: Path) -> None:
    audit = _scan(tmp_path)
    res = build_report(audit, tmp_path / "report.html", examples=5)
    f = res.data["facets"]
    assert f["available"] and f["flagged"] == 25 + 5 + 12
    assert _table(f, "language") == {"pt": 25, "en": 5, "und": 12}
    hosts = _table(f, "platform")
    assert hosts == {"bigblog.com.br": 30, "other hosts": 12}
    assert next(r for r in f["platform"] if r["name"] == "other hosts")["platforms"] == 4
    assert _table(f, "site_type") == {"blog": 30, "other": 12}
    assert _table(f, "year") == {"2019": 25, "2021": 5, "none": 12}
    assert [r["name"] for r in f["year"]] == ["2019", "2021", "none"]
    assert _table(f, "place") == {"BR state: Bahia": 25, "place outside Brazil": 12}
    # counts only: no small host, URL path or caption reaches the report
    blob = res.html.read_text() + res.json.read_text()
    for secret in (
        "zyxandra",
        "quillfeather",
        "fotos.bigblog",
        "2019/05/0.jpg",
        "Lisbon",
        "x0.bigblog",
    ):
        assert secret.lower() not in blob.lower(), secret
    assert "Flagged rows per hosting platform" in res.html.read_text()
    # the audit keeps small platforms hashed, too
    stats = "".join(p.read_text() for p in (audit / "stats").glob("*.json"))
    assert "zyxandra" not in stats and "sha256:" in stats


def test_platform_and_seal() -> None:
    assert platform("a.b.blogspot.com") == "blogspot.com"
    assert platform("fotos.escola.com.br") == "escola.com.br"
    assert platform("news.bbc.co.uk") == "bbc.co.uk"
    df = pl.DataFrame(
        {"url": ["https://www.Big.example/2020/x.jpg"] * HOST_MIN + ["http://tiny.example/a"]}
    )
    sealed = seal(facet_counts(df))
    assert sealed["platform"]["big.example"] == HOST_MIN
    assert not any("tiny" in k for k in sealed["platform"])
    assert sealed["year"] == {"2020": HOST_MIN, "none": 1}
    assert sealed["language"] == {"und": HOST_MIN + 1}
    # a family's own site stays unnamed however many rows it has
    family = pl.DataFrame({"url": ["https://fotos.maria-silva.example/a.jpg"] * (HOST_MIN * 3)})
    assert list(seal(facet_counts(family))["platform"]) == [hashed("maria-silva.example")]


def test_an_audit_without_facets_says_so(tmp_path: Path) -> None:
    audit = _scan(tmp_path)
    for p in (audit / "stats").glob("*.json"):
        s = json.loads(p.read_text())
        s.pop("facets", None)
        p.write_text(json.dumps(s))
    res = build_report(audit, tmp_path / "r.html", examples=0)
    assert res.data["facets"] == {"available": False}
    assert "recorded no per-language" in res.html.read_text()
