"""The pure per-batch work both executors share: detectors, then policy, then findings rows.

Everything here is vectorised over the batch; only the (few) flagged rows get per-row Python,
to build their list of reasons.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from childguard.detect.base import Detector
from childguard.detect.textnorm import prepare
from childguard.policy import REASON_TYPE, Policy
from childguard.urls import laion_hash_column, url_sha256_column

FINDINGS_SCHEMA = pa.schema(
    [
        ("row_index", pa.int64()),
        ("url_sha256", pa.string()),
        ("laion_hash", pa.int64()),
        ("risk", pa.string()),
        ("action", pa.string()),
        ("rule", pa.string()),
        ("reasons", pa.list_(REASON_TYPE)),
    ]
)


def empty_findings() -> pa.Table:
    return FINDINGS_SCHEMA.empty_table()


def score_batch(batch: pa.Table, detectors: list[Detector]) -> pa.Table:
    """Run every detector over the batch; returns batch columns plus every score column."""
    table = prepare(batch)
    for det in detectors:
        det.ensure_setup()
        out = det.score(table)
        if out.num_rows != table.num_rows:
            raise RuntimeError(
                f"detector {det.name} returned {out.num_rows} rows for {table.num_rows}"
            )
        for name in out.column_names:
            table = table.append_column(name, out.column(name))
    return table


def decide_batch(
    batch: pa.Table, detectors: list[Detector], policy: Policy
) -> tuple[pa.Table, dict[str, int]]:
    """Score and decide one batch. Returns (findings rows, rows per risk)."""
    scored = pl.from_arrow(score_batch(batch, detectors))
    assert isinstance(scored, pl.DataFrame)
    versions = {d.name: d.version for d in detectors}
    decided = policy.decide(scored, versions)
    counts = {k: 0 for k in ("blocked", "identifiable_child", "child", "clean")}
    for risk, n in decided["risk"].value_counts().iter_rows():
        counts[risk] = int(n)
    mask = decided["risk"] != "clean"
    if not mask.any():
        return empty_findings(), counts
    flagged = scored.filter(mask)
    dec = decided.filter(mask)
    reasons = policy.reasons(flagged, versions)
    if "laion_hash" in flagged.columns and flagged["laion_hash"].null_count() == 0:
        lh = flagged["laion_hash"].cast(pl.Int64)
    else:
        computed = laion_hash_column(flagged["url"], flagged["text"])
        lh = (
            flagged["laion_hash"].cast(pl.Int64).fill_null(computed)
            if "laion_hash" in flagged.columns
            else computed
        )
    findings = pa.table(
        {
            "row_index": flagged["row_index"].cast(pl.Int64).to_arrow(),
            "url_sha256": url_sha256_column(flagged["url"]).to_arrow(),
            "laion_hash": lh.to_arrow(),
            "risk": dec["risk"].to_arrow(),
            "action": dec["action"].to_arrow(),
            "rule": dec["rule"].to_arrow(),
            "reasons": pa.array(reasons, pa.list_(REASON_TYPE)),
        }
    )
    return findings.cast(FINDINGS_SCHEMA), counts
