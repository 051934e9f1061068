"""The removal manifest: what a release left out, in hashes only.

`manifest.parquet` has one row per removed (url_sha256, laion_hash) pair:

| column      | meaning                                                                   |
|-------------|---------------------------------------------------------------------------|
| url_sha256  | hex SHA-256 of the normalised URL (null only when the row had no URL)      |
| laion_hash  | LAION's `hash` of URL+TEXT, where known                                    |
| reason      | blocked, identifiable_child, child, request, review, held                  |
| source      | detector name, `list:<name>@<version>`, `request:<id>`, or `reviewer`       |
| removed_in  | id of the first release that left it out                                   |

No URL, caption or evidence text is ever written. `held` rows wait for a reviewer: a later
release restores them (listed in `restored.parquet`) once a reviewer keeps them. Every other
reason is final: a row removed for cause never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

MANIFEST_SCHEMA = pa.schema(
    [
        ("url_sha256", pa.string()),
        ("laion_hash", pa.int64()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("removed_in", pa.string()),
    ]
)
RESTORED_SCHEMA = pa.schema(
    [
        ("url_sha256", pa.string()),
        ("laion_hash", pa.int64()),
        ("held_in", pa.string()),
        ("restored_in", pa.string()),
    ]
)
PL_MANIFEST = {
    "url_sha256": pl.String,
    "laion_hash": pl.Int64,
    "reason": pl.String,
    "source": pl.String,
    "removed_in": pl.String,
}
# When two entries share a key, the more serious reason wins (lower number).
REASON_RANK = {
    "blocked": 0,
    "request": 1,
    "identifiable_child": 2,
    "child": 3,
    "review": 4,
    "held": 9,
}
FORBIDDEN_COLUMNS = ("url", "URL", "text", "TEXT", "caption", "evidence", "reasons")


def empty_manifest() -> pl.DataFrame:
    """A manifest frame with no entries (the manifest schema)."""
    return pl.DataFrame(schema=PL_MANIFEST)


def _rank(col: str = "reason") -> pl.Expr:
    return pl.col(col).replace_strict(REASON_RANK, default=5, return_dtype=pl.Int32)


def dedupe(entries: pl.DataFrame) -> pl.DataFrame:
    """One entry per (url_sha256, laion_hash): the most serious reason, then the earliest
    release. (A stable sort on the small keys, then a hash-based unique: no string sort.)"""
    if entries.is_empty():
        return entries.select(list(PL_MANIFEST)).cast(PL_MANIFEST)  # type: ignore[arg-type]
    return (
        entries.with_columns(_rank().alias("_rank"))
        .sort(["_rank", "removed_in"], nulls_last=True, maintain_order=True)
        .unique(subset=["url_sha256", "laion_hash"], keep="first", maintain_order=True)
        .select(list(PL_MANIFEST))
        .cast(PL_MANIFEST)  # type: ignore[arg-type]
    )


def sort_entries(df: pl.DataFrame) -> pl.DataFrame:
    """Manifest order: by url_sha256, then laion_hash, nulls last (deterministic, and lets a
    reader binary-search the file)."""
    return df.sort(["url_sha256", "laion_hash"], nulls_last=True)


@dataclass
class Merged:
    """A manifest merged with its parent's: entries, restored rows, carried and new counts."""
    manifest: pl.DataFrame
    restored: pl.DataFrame
    carried: int  # entries taken over from the parent
    new: int  # entries first removed in this release


def merge_with_parent(
    current: pl.DataFrame,
    parent: pl.DataFrame | None,
    kept_urls: pl.Series,
    release_id: str,
) -> Merged:
    """Release N's manifest = the parent's entries carried forward + this release's.

    current: this audit's entries (reason and source set; removed_in is overwritten).
    kept_urls: url_sha256 values a reviewer kept in this audit. They restore the parent's
    `held` entries, unless the same URL is removed for cause (now or before).
    """
    current = current.with_columns(pl.lit(release_id).alias("removed_in"))
    if parent is None or parent.is_empty():
        merged = sort_entries(dedupe(current))
        return Merged(merged, _empty_restored(), 0, merged.height)
    parent = dedupe(parent)
    held = parent.filter(pl.col("reason") == "held")
    cause = parent.filter(pl.col("reason") != "held")
    cause_urls = pl.concat(
        [
            cause.select("url_sha256"),
            current.filter(pl.col("reason") != "held").select("url_sha256"),
        ]
    )
    restorable = held.join(
        pl.DataFrame({"url_sha256": kept_urls.cast(pl.String)}).drop_nulls(),
        on="url_sha256",
        how="semi",
    ).join(cause_urls, on="url_sha256", how="anti")
    still_held = held.join(
        restorable.select("url_sha256", "laion_hash"),
        on=["url_sha256", "laion_hash"],
        how="anti",
        nulls_equal=True,
    )
    carried = pl.concat([cause, still_held])
    # An entry keeps the release its URL first left in (a held row later removed for cause
    # was already out since it was held).
    first_out = (
        carried.filter(pl.col("url_sha256").is_not_null())
        .group_by("url_sha256")
        .agg(pl.col("removed_in").min().alias("_first"))
    )
    combined = (
        pl.concat([carried, current])
        .join(first_out, on="url_sha256", how="left")
        .with_columns(pl.coalesce("_first", "removed_in").alias("removed_in"))
        .drop("_first")
    )
    merged = sort_entries(dedupe(combined))
    restored = restorable.select(
        "url_sha256",
        "laion_hash",
        pl.col("removed_in").alias("held_in"),
        pl.lit(release_id).alias("restored_in"),
    ).sort(["url_sha256", "laion_hash"], nulls_last=True)
    new = merged.filter(pl.col("removed_in") == release_id).height
    return Merged(merged, restored, merged.height - new, new)


def _empty_restored() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "url_sha256": pl.String,
            "laion_hash": pl.Int64,
            "held_in": pl.String,
            "restored_in": pl.String,
        }
    )


def to_arrow(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame's `schema` columns as an Arrow table cast to that schema."""
    return df.select(schema.names).to_arrow().cast(schema)
