"""`childguard report` on real scans of synthetic data with canary captions and URLs."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childguard.cli import app
from childguard.report import ReportError, build_report
from childguard.report.audit import safe_error
from childguard.report.stats import cluster_ratio, wilson
from report.helpers import (
    CANARIES,
    CANARY_HOST,
    EVIDENCE_HTML,
    add_decisions,
    expected_counts,
    expected_risk,
    scan,
    write_audit,
    write_sources,
)

RISKS = ("blocked", "identifiable_child", "child", "clean")


def _copy(audit: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "audit"
    shutil.copytree(audit, dst)
    return dst


def _shard_ids(audit: Path) -> dict[str, str]:
    """file stem ('part-a') -> shard_id, from the scan's stats."""
    out = {}
    for p in (audit / "stats").glob("*.json"):
        s = json.loads(p.read_text())
        out[Path(s["path"]).name.split(".")[0]] = s["shard_id"]
    return out


def _all_text(html: str, js: str) -> str:
    """The report as a reader could see it, embedded SVG plots decoded."""
    svgs = [
        base64.b64decode(m).decode("utf-8")
        for m in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    ]
    return "\n".join([html, js, *svgs])


def test_counts_and_intervals(audit, tmp_path: Path) -> None:
    audit_dir, ids = audit
    res = build_report(audit_dir, tmp_path / "r.html")
    d = json.loads(res.json.read_text())
    assert res.json == tmp_path / "r.json"
    all_ids = ids["part-a"] + ids["part-b"]
    exp = expected_counts(all_ids)
    assert d["totals"]["rows"] == 700
    assert d["totals"]["risk_counts"] == exp
    assert d["totals"]["flagged"] == 700 - exp["clean"]
    # default actions: identifiable_child -> remove, child -> review, clean -> keep
    assert d["totals"]["action_counts"] == {
        "remove": exp["identifiable_child"],
        "review": exp["child"],
        "keep": exp["clean"],
    }
    prev = {p["risk"]: p for p in d["prevalence"]}
    ic = prev["identifiable_child"]
    assert (ic["rows"], ic["of"]) == (exp["identifiable_child"], 700)
    assert ic["share"] == pytest.approx(exp["identifiable_child"] / 700)
    w = wilson(exp["identifiable_child"], 700)
    assert (ic["ci_low"], ic["ci_high"]) == pytest.approx((w.low, w.high))
    assert prev["any"]["rows"] == 700 - exp["clean"]
    assert prev["blocked"]["rows"] == 0 and prev["blocked"]["ci_low"] == 0.0
    assert prev["blocked"]["ci_high"] > 0

    by_file = _shard_ids(audit_dir)
    shards = {s["shard_id"]: s for s in d["shards"]}
    for stem in ("part-a", "part-b"):
        s = shards[by_file[stem]]
        e = expected_counts(ids[stem])
        assert s["risk_counts"] == e
        assert s["rows"] == len(ids[stem])
        assert s["action_counts"]["remove"] == e["identifiable_child"]
    assert {s["format"] for s in d["shards"]} == {"parquet", "jsonl"}

    rules = {r["rule"]: r["rows"] for r in d["rules"]}
    assert rules == {"probe_school": exp["identifiable_child"], "probe_any": exp["child"]}
    sig = {s["label"]: s for s in d["signals"]}
    assert sig["name+school"]["rows"] == exp["identifiable_child"]
    assert sig["name+school"]["by_risk"]["identifiable_child"] == exp["identifiable_child"]
    assert sig["child_term"]["rows"] == exp["child"]
    assert sig["child_term"]["mean_score"] == pytest.approx(0.7)
    assert d["run"]["policy_version"] == "report-test-1"
    assert d["run"]["detectors"] == [{"name": "report_probe", "version": "2"}]
    assert d["review"]["available"] is False

    html = res.html.read_text()
    # the same numbers in the page: counts, shares and interval bounds as printed
    assert f"{exp['child']:,}" in html and "700" in html
    assert f"{100 * w.low:.2f}%" in html and f"{100 * w.high:.2f}%" in html
    assert "report_probe@2" in html and "report-test-1" in html
    assert html.count("data:image/svg+xml;base64,") == 3
    assert not list(tmp_path.glob(".*.tmp-*"))  # atomic writes leave no temp files


def test_no_caption_or_url_text_reaches_the_report(audit, tmp_path: Path) -> None:
    audit_dir, _ = audit
    # the scan names the broken CSV row without quoting it; the report adds nothing either
    # a host with >= 20 flagged rows is a hosting platform the report names (issue 12, item
    # 8): the canary host (48 rows here) may appear there, as a name with a count, only
    stats = [json.loads(p.read_text()) for p in (audit_dir / "stats").glob("*.json")]
    assert any(CANARY_HOST in s.get("facets", {}).get("platform", {}) for s in stats)
    raw_stats = json.dumps([{k: v for k, v in s.items() if k != "facets"} for s in stats])
    assert "Expected 2 columns" in raw_stats
    for canary in CANARIES:
        assert canary not in raw_stats
    res = build_report(audit_dir, tmp_path / "r.html", examples=50)
    facets = json.loads(res.json.read_text())["facets"]
    assert CANARY_HOST in {r["name"] for r in facets["platform"]}
    html = res.html.read_text()
    where = html.index('id="where"')
    html_wo_hosts = html[:where] + html[html.index('id="shards"', where) :]
    d_wo_facets = {k: v for k, v in json.loads(res.json.read_text()).items() if k != "facets"}
    text = _all_text(html_wo_hosts, json.dumps(d_wo_facets))
    assert CANARY_HOST not in json.dumps(facets["language"] + facets["year"] + facets["place"])
    for canary in CANARIES:
        assert canary not in text
        assert canary.lower() not in text.lower()
    assert "https://" not in text  # every source URL is https://
    # self-contained: nothing is loaded from anywhere, and the CSP says so
    html = res.html.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'none'" in html
    d = json.loads(res.json.read_text())
    assert d["examples"]  # examples were produced, and carry only the allowed fields
    for rows in d["examples"].values():
        for e in rows:
            assert set(e) == {"shard_id", "row_index", "action", "rule", "reasons"}


def test_failed_shard_listed_with_scrubbed_reason(audit, tmp_path: Path) -> None:
    audit_dir, _ = audit
    d = build_report(audit_dir, tmp_path / "r.html").data
    assert d["inputs"] == {
        "listed": 3,
        "finished": 2,
        "failed": 1,
        "unfinished": 0,
        "bytes": d["inputs"]["bytes"],
        "rows": 700,
    }
    assert d["inputs"]["bytes"] > 0
    (failed,) = d["failed_shards"]
    assert failed["shard_id"].startswith("broken-")
    (reason,) = failed["errors"]
    assert "row 1" in reason and "Expected 2 columns, got 3" in reason
    html = (tmp_path / "r.html").read_text()
    assert "1 shard(s) failed" in html and failed["shard_id"] in html


def test_evidence_is_html_escaped(audit, tmp_path: Path) -> None:
    audit_dir, _ = audit
    res = build_report(audit_dir, tmp_path / "r.html", examples=3)
    html = res.html.read_text()
    assert "<script" not in html and "alert" not in html
    # evidence is allowlisted before it is stored: the payload's words are masked, the
    # initials and lexicon words stay (and what remains is still HTML-escaped)
    from childguard.redact import allow_evidence
    from childguard.scorer.features import _evidence_words

    stored = allow_evidence(EVIDENCE_HTML, _evidence_words())
    assert "script" not in stored and "Z. Q." in stored and "school" in stored
    d = json.loads(res.json.read_text())
    ev = [r["evidence"] for e in d["examples"]["identifiable_child"] for r in e["reasons"]]
    assert ev == [stored] * 3
    assert "Z. Q." in html
    assert len(d["examples"]["child"]) == 3 and "blocked" not in d["examples"]


def test_examples_are_a_fixed_sample_and_can_be_left_out(audit, tmp_path: Path) -> None:
    audit_dir, ids = audit
    by_id = {v: k for k, v in _shard_ids(audit_dir).items()}
    one = build_report(audit_dir, tmp_path / "a.html", examples=4).data["examples"]
    two = build_report(audit_dir, tmp_path / "b.html", examples=4).data["examples"]
    assert one == two
    for risk, rows in one.items():
        for e in rows:
            i = ids[by_id[e["shard_id"]]][e["row_index"]]
            assert expected_risk(i) == risk
    none = build_report(audit_dir, tmp_path / "c.html", examples=0)
    assert none.data["examples"] == {}
    assert "Examples left out" in none.html.read_text()
    assert "evidence (redacted)" not in none.html.read_text()


def test_zero_findings(tmp_path: Path) -> None:
    write_sources(tmp_path / "src", hits=False, bad_csv=False)
    scan(tmp_path / "src", tmp_path / "audit")
    res = build_report(tmp_path / "audit")
    assert res.html == tmp_path / "audit" / "report.html"
    d = res.data
    assert d["totals"]["risk_counts"] == {
        "blocked": 0,
        "identifiable_child": 0,
        "child": 0,
        "clean": 700,
    }
    assert d["rules"] == [] and d["signals"] == [] and d["examples"] == {}
    assert d["failed_shards"] == []
    anyp = next(p for p in d["prevalence"] if p["risk"] == "any")
    assert anyp["share"] == 0.0 and anyp["ci_low"] == 0.0
    assert anyp["ci_high"] == pytest.approx(wilson(0, 700).high)
    html = res.html.read_text()
    assert "No rows were flagged." in html and "No flagged rows." in html


def test_unfinished_and_empty_audits(audit, tmp_path: Path) -> None:
    audit_dir = _copy(audit[0], tmp_path)
    # a shard whose stats are not written yet (scan interrupted) is listed, not counted
    sid = _shard_ids(audit_dir)["part-b"]
    (audit_dir / "stats" / f"{sid}.json").unlink()
    d = build_report(audit_dir).data
    assert d["unfinished_shards"] == [sid]
    assert d["totals"]["rows"] == 400
    assert "not finished" in (audit_dir / "report.html").read_text()

    # nothing finished at all
    for p in (audit_dir / "stats").glob("*.json"):
        p.unlink()
    d = build_report(audit_dir).data
    assert d["totals"]["rows"] == 0 and d["shards"] == []
    assert all(p["share"] is None for p in d["prevalence"])


def test_review_decisions_give_precision_adjusted_prevalence(audit, tmp_path: Path) -> None:
    audit_dir = _copy(audit[0], tmp_path)
    ids = audit[1]
    sid_a = _shard_ids(audit_dir)["part-a"]
    ic_rows = [r for r, i in enumerate(ids["part-a"]) if expected_risk(i) == "identifiable_child"]
    ch_rows = [r for r, i in enumerate(ids["part-a"]) if expected_risk(i) == "child"]
    decisions = (
        [(sid_a, r, "remove", None) for r in ic_rows[:3]]
        + [(sid_a, ic_rows[3], "keep", None)]
        + [(sid_a, r, "remove", None) for r in ch_rows[:5]]
        + [(sid_a, r, "keep", None) for r in ch_rows[5:9]]
        + [(sid_a, ch_rows[9], "escalate", None)]
        # a guardian's request: not a random sample, left out of precision
        + [(sid_a, ch_rows[10], "remove", "req-0001")]
        # a decision on a clean row: not among the findings
        + [(sid_a, 1, "remove", None)]
    )
    add_decisions(audit_dir, decisions)
    d = build_report(audit_dir, tmp_path / "r.html").data
    rv = d["review"]
    assert rv["available"] is True
    assert rv["decisions"] == len(decisions)
    assert rv["request_decisions"] == 1
    assert rv["scan_decisions_on_findings"] == 14
    assert rv["scan_decisions_elsewhere"] == 1
    by = {r["risk"]: r for r in rv["by_risk"]}
    exp = expected_counts(ids["part-a"] + ids["part-b"])
    ic = by["identifiable_child"]
    assert (ic["confirmed"], ic["rejected"], ic["escalated"]) == (3, 1, 0)
    prec = wilson(3, 4, population=exp["identifiable_child"])
    assert ic["precision"] == pytest.approx(0.75)
    assert (ic["precision_low"], ic["precision_high"]) == pytest.approx((prec.low, prec.high))
    share = exp["identifiable_child"] / 700
    assert ic["adjusted_share"] == pytest.approx(share * 0.75)
    assert ic["adjusted_low"] == pytest.approx(share * prec.low)
    assert ic["confirmed_rows_estimate"] == pytest.approx(exp["identifiable_child"] * 0.75)
    ch = by["child"]
    assert (ch["confirmed"], ch["rejected"], ch["escalated"], ch["reviewed"]) == (5, 4, 1, 10)
    assert ch["precision"] == pytest.approx(5 / 9)
    # all reviewed rows come from one of the two shards with flagged rows
    assert (ch["reviewed_shards"], ch["flagged_shards"]) == (1, 2)
    assert by["blocked"]["precision"] is None
    html = (tmp_path / "r.html").read_text()
    assert "Assumptions." in html and "random sample of its flagged rows" in html


def test_bad_db_url_is_an_error_and_bad_audit_dirs_are_named(audit, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such folder"):
        build_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"run\.json: not found"):
        build_report(tmp_path / "empty")
    audit_dir = _copy(audit[0], tmp_path)
    bad = next((audit_dir / "stats").glob("part-a*.json"))
    bad.write_text("{not json")
    with pytest.raises(ReportError, match=re.escape(str(bad))):
        build_report(audit_dir)
    bad.write_text(
        json.dumps({"shard_id": "x", "rows": 5, "risk_counts": {"clean": 4}, "status": "ok"})
    )
    with pytest.raises(ReportError, match="add up to 4, but rows is 5"):
        build_report(audit_dir)


def test_safe_error_strips_rows_and_credentials() -> None:
    assert safe_error("f.csv: CSV parse error: Expected 2 columns, got 3: u,Some Name,x\nmore") == (
        "f.csv: CSV parse error: Expected 2 columns, got 3: [row text withheld]"
    )
    assert safe_error("s3://KEY:SECRET@bucket/a.parquet?X-Amz-Signature=abc: unreadable") == (
        "s3://bucket/a.parquet: unreadable"
    )
    assert len(safe_error("x" * 1000)) == 300


def test_cli(audit, tmp_path: Path) -> None:
    audit_dir, _ = audit
    out = tmp_path / "cli.html"
    res = CliRunner().invoke(app, ["report", str(audit_dir), "--out", str(out), "--examples", "1"])
    assert res.exit_code == 0, res.output
    assert "700 rows" in res.output and "1 failed shard" in res.output
    d = json.loads(out.with_suffix(".json").read_text())
    assert all(len(v) == 1 for v in d["examples"].values())
    res = CliRunner().invoke(app, ["report", str(audit_dir), "-o", str(out), "--no-examples"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.with_suffix(".json").read_text())["examples"] == {}
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such folder" in res.output


def test_many_shards_cluster_interval_and_capped_table(tmp_path: Path) -> None:
    shards = [
        (
            f"s-{k:03d}",
            1000,
            {"blocked": k % 2, "identifiable_child": k % 5, "child": 5 + 5 * (k % 13)},
        )
        for k in range(210)
    ]
    audit_dir = write_audit(tmp_path / "audit", shards)
    res = build_report(audit_dir)
    d = res.data
    child = next(p for p in d["prevalence"] if p["risk"] == "child")
    c = cluster_ratio([s[2]["child"] for s in shards], [1000] * 210)
    assert c is not None and child["rows"] == c.x
    assert (child["cluster_low"], child["cluster_high"]) == pytest.approx((c.low, c.high))
    # between-shard spread makes it wider than the binomial interval here
    assert child["cluster_high"] - child["cluster_low"] > child["ci_high"] - child["ci_low"]
    assert len(d["shards"]) == 210  # every shard in the JSON ...
    html = res.html.read_text()
    assert "shards as clusters" in html
    assert "The 200 shards with the highest flagged share; all 210" in html  # ... 200 in HTML
    top = max(shards, key=lambda s: (sum(s[2].values()), s[0]))[0]
    assert top in html
    assert html.count("<tr><td><code>s-") == 200

    few = build_report(write_audit(tmp_path / "few", shards[:3])).data
    assert all(p["cluster_low"] is None for p in few["prevalence"])


def test_explicit_db_must_exist_and_connect(audit, tmp_path: Path) -> None:
    audit_dir, _ = audit
    missing = tmp_path / "nowhere" / "registry.sqlite"
    with pytest.raises(ReportError, match="no database file at"):
        build_report(audit_dir, tmp_path / "r.html", db_url=f"sqlite:///{missing}")
    with pytest.raises(ReportError, match="cannot read decisions from --db") as err:
        # nothing listens on port 1: refused at once
        build_report(audit_dir, tmp_path / "r.html", db_url="postgresql://u:secret@127.0.0.1:1/x")
    assert "secret" not in str(err.value)
    assert not (tmp_path / "r.html").exists()


def test_same_audit_same_bytes(audit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a = build_report(audit[0], tmp_path / "a.html")
    b = build_report(audit[0], tmp_path / "b.html")
    assert a.data["generated_at"] == "2026-01-01T00:00:00+00:00"
    assert a.html.read_bytes() == b.html.read_bytes()
    assert a.json.read_bytes() == b.json.read_bytes()


def test_without_plots_the_tables_remain(audit, tmp_path: Path) -> None:
    res = build_report(audit[0], tmp_path / "r.html", plots=False)
    html = res.html.read_text()
    assert "data:image" not in html
    assert "What was found" in html and "probe_school" in html
