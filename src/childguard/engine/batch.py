"""The pure per-batch work both executors share: detectors, then policy, then findings rows.

Everything here is vectorised over the batch; only the (few) flagged rows get per-row Python,
to build their list of reasons.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from childguard.detect.base import Detector
from childguard.detect.context import BatchContext
from childguard.detect.output import check_output
from childguard.detect.textnorm import NORM_COLUMNS, prepare
from childguard.engine.facets import facet_counts
from childguard.policy import REASON_TYPE, Policy
from childguard.urls import laion_hash_column, url_sha256_column
from childguard.vision.columns import PICTURE_TYPE, picture_column

FINDINGS_SCHEMA = pa.schema(
    [
        ("row_index", pa.int64()),
        ("url_sha256", pa.string()),
        ("laion_hash", pa.int64()),
        ("risk", pa.string()),
        ("action", pa.string()),
        ("rule", pa.string()),
        ("reasons", pa.list_(REASON_TYPE)),
        # what the images detector saw (`scan --images`); null when it did not run
        ("picture", PICTURE_TYPE),
    ]
)


# Rows a detector could not fully check (an unreadable image, a model failure): a detector
# says so in an optional `{name}__error` column; such rows are never silently clean, they are
# listed in errors/<shard-id>.parquet and counted in the shard's stats.
ERRORS_SCHEMA = pa.schema(
    [("row_index", pa.int64()), ("detector", pa.string()), ("error", pa.string())]
)


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table with no rows (`schema.empty_table()` imports pandas: 0.15 s per process)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def empty_findings() -> pa.Table:
    """A findings table with no rows (the findings schema)."""
    return empty_table(FINDINGS_SCHEMA)


def row_errors(scored: pl.DataFrame) -> pa.Table:
    """Every (row, detector) whose `{detector}__error` is set, in row order."""
    parts = []
    for c in scored.columns:
        if c.endswith("__error"):
            err = scored.select("row_index", pl.col(c).alias("error")).filter(
                pl.col("error").is_not_null()
            )
            if err.height:
                parts.append(err.with_columns(detector=pl.lit(c[: -len("__error")])))
    if not parts:
        return empty_table(ERRORS_SCHEMA)
    out = pl.concat(parts).sort("row_index", "detector", maintain_order=True)
    return out.select("row_index", "detector", "error").to_arrow().cast(ERRORS_SCHEMA)


_REASON_DTYPES = {"score": pl.Float64, "threshold": pl.Float64}  # the other fields: strings


def _reasons_array(n: int, row: np.ndarray, cols: dict[str, list]) -> pa.Array:
    """Per flagged row (n), its reasons (`Policy.reason_columns`: each reason's row, sorted,
    and its fields) as Arrow `list<REASON_TYPE>`, built a field at a time (one Polars column
    per field, the rows' offsets): `pa.array` on Python lists imports pandas (0.15 s per
    process), and Polars building structs from Python dicts took 8x longer."""
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(row, minlength=n), out=offsets[1:])
    fields = [
        pl.Series(f.name, cols[f.name], dtype=_REASON_DTYPES.get(f.name, pl.String))
        .to_arrow()
        .cast(f.type)
        for f in REASON_TYPE
    ]
    values = pa.StructArray.from_arrays(fields, fields=list(REASON_TYPE))
    starts = pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)])
    return pa.ListArray.from_arrays(starts, values, type=pa.list_(REASON_TYPE))


def score_batch(batch: pa.Table, detectors: list[Detector]) -> pa.Table:
    """Run every detector over the batch; returns batch columns plus every score column."""
    return score_batch_with_context(batch, detectors)[0]


def score_batch_with_context(
    batch: pa.Table, detectors: list[Detector]
) -> tuple[pa.Table, BatchContext]:
    """`score_batch`, and the batch context its detectors shared (signals computed once)."""
    ctx = BatchContext(prepare(batch))
    table = ctx.table
    for det in detectors:
        out = det.run(table, ctx)
        check_output(det.name, out, table.num_rows, det.outputs)
        for name in out.column_names:
            table = table.append_column(name, out.column(name))
    return table, ctx


def decide_batch(
    batch: pa.Table, detectors: list[Detector], policy: Policy
) -> tuple[pa.Table, dict[str, int]]:
    """Score and decide one batch. Returns (findings rows, rows per risk)."""
    findings, counts, *_ = decide_batch_with_errors(batch, detectors, policy)
    return findings, counts


def picture_checked(table: pa.Table) -> int:
    """Rows whose picture (image or embedding) some detector looked at (`{name}__picture`)."""
    cols = [table.column(c) for c in table.column_names if c.endswith("__picture")]
    if not cols:
        return 0
    seen = pl.Series(cols[0]).fill_null(False)
    for c in cols[1:]:
        seen = seen | pl.Series(c).fill_null(False)
    return int(seen.sum())


def decide_batch_with_errors(
    batch: pa.Table, detectors: list[Detector], policy: Policy
) -> tuple[pa.Table, dict[str, int], pa.Table, dict[str, dict[str, int]], int]:
    """Score and decide one batch: (findings rows, rows per risk, rows a detector failed on,
    flagged rows per language/platform/site type/year/place: `engine.facets`, rows whose
    picture was checked)."""
    table = score_batch(batch, detectors)
    return (*decide_scored(table, detectors, policy), picture_checked(table))


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def decide_scored(
    table: pa.Table, detectors: list[Detector], policy: Policy
) -> tuple[pa.Table, dict[str, int], pa.Table, dict[str, dict[str, int]]]:
    """`decide_batch_with_errors` on a batch the detectors have scored already (without the
    picture count)."""
    # Only what the policy and the error list read is converted for every row (numbers, error
    # strings, fields a rule names); converting the other strings (captions, URLs, evidence,
    # labels) cost ~0.1 µs a row: every column is read for the flagged rows only. The
    # normalised text columns are the detectors' input only and never read here.
    names = [c for c in table.column_names if c not in NORM_COLUMNS]
    fields = policy.field_columns()
    light = [
        c
        for c in names
        if not _is_text(table.schema.field(c).type) or c.endswith("__error") or c in fields
    ]
    scored = pl.from_arrow(table.select(light))
    assert isinstance(scored, pl.DataFrame)
    errors = row_errors(scored)
    versions = {d.name: d.version for d in detectors}
    decided = policy.decide(scored, versions)
    counts = {k: 0 for k in ("blocked", "identifiable_child", "child", "clean")}
    for risk, n in decided["risk"].value_counts().iter_rows():
        counts[risk] = int(n)
    mask = decided["risk"] != "clean"
    if not mask.any():
        return empty_findings(), counts, errors, {}
    flagged = pl.from_arrow(table.select(names).take(mask.arg_true().to_arrow()))
    assert isinstance(flagged, pl.DataFrame)
    dec = decided.filter(mask)
    reason_rows, reasons = policy.reason_columns(flagged, versions, dec["rule"].to_list())
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
            "reasons": _reasons_array(flagged.height, reason_rows, reasons),
            "picture": picture_column(flagged),
        }
    )
    return findings.cast(FINDINGS_SCHEMA), counts, errors, facet_counts(flagged)
