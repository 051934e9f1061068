"""Deciding a scored batch: every row's numbers go to the policy, while the input's own strings
(caption, URL, language) and the detectors' evidence are read for the flagged rows only; the
findings must name the right rows' hashes, reasons and facets whichever rows are flagged."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect import REGISTRY, load_builtin
from childguard.engine.batch import decide_scored, score_batch
from childguard.policy import Policy, load_policy
from childguard.urls import laion_hash_column, url_sha256_column

ROWS = [
    ("Sunset over the lake", "https://x.com/a.jpg", "en"),
    ("meu filho Lucas, 5 anos, na Escola Pequeno Mundo", "https://x.com/festa-5-anos.jpg", "pt"),
    ("Modern kitchen", None, None),
    ("happy 2nd birthday to my son Karter", "https://y.org/2019/05/karter.jpg", "EN "),
    (None, "https://z.net/p.png", ""),
    ("minha filha Sofia, 7 anos", "https://x.com/sofia.jpg", "pt"),
]


def _scored(policy: Policy) -> tuple[pa.Table, list]:
    load_builtin()
    dets = REGISTRY.create(policy.detectors or REGISTRY.names())
    batch = pa.table(
        {
            "row_index": pa.array(range(10, 10 + len(ROWS)), pa.int64()),
            "url": pa.array([u for _, u, _ in ROWS], pa.string()),
            "text": pa.array([t for t, _, _ in ROWS], pa.string()),
            "language": pa.array([lang for _, _, lang in ROWS], pa.string()),
        }
    )
    return score_batch(batch, dets), dets


def test_findings_are_the_flagged_rows_own() -> None:
    policy = load_policy("rules")
    table, dets = _scored(policy)
    findings, counts, _, facets = decide_scored(table, dets, policy)
    rows = findings["row_index"].to_pylist()
    assert len(rows) >= 2 and rows != list(range(10, 10 + len(rows)))  # not a prefix
    assert counts["clean"] == len(ROWS) - len(rows)
    pos = [r - 10 for r in rows]
    urls = pl.Series([ROWS[i][1] for i in pos], dtype=pl.String)
    texts = pl.Series([ROWS[i][0] for i in pos], dtype=pl.String)
    assert findings["url_sha256"].to_pylist() == url_sha256_column(urls).to_list()
    assert findings["laion_hash"].to_pylist() == laion_hash_column(urls, texts).to_list()
    langs = [(ROWS[i][2] or "").strip().lower() or "und" for i in pos]
    assert facets["language"] == {lang: langs.count(lang) for lang in set(langs)}
    # each reason's evidence is its own row's (the names detector's initials)
    for i, reasons in zip(pos, findings["reasons"].to_pylist(), strict=True):
        names = [r["evidence"] for r in reasons if r["detector"] == "names"]
        first = ROWS[i][0].split(", ")[0].split()[-1]
        assert names and all(e and f"{first[0]}." in e for e in names)


def test_default_policy_reads_the_scorers_minor_field() -> None:
    policy = load_policy()
    assert "scorer__minor" in policy.field_columns()
    table, dets = _scored(policy)
    findings, counts, _, _ = decide_scored(table, dets, policy)
    assert sum(counts.values()) == len(ROWS)
    assert findings.num_rows == len(ROWS) - counts["clean"]
