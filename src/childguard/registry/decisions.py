"""Reviewers' decisions as a table, for `childguard release`.

`load_decisions(audit_dir)` returns one row per (shard_id, row_index): the latest decision wins
(decisions are append-only; a later one supersedes an earlier one for the same row).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import select

from childguard.registry.db import default_db_url, has_schema, make_engine, sqlite_path
from childguard.registry.models import Decision

DECISIONS_SCHEMA: dict[str, pl.DataType] = {
    "shard_id": pl.String(),
    "row_index": pl.Int64(),
    "url_sha256": pl.String(),
    "decision": pl.String(),
    "request_id": pl.String(),
    "decided_at": pl.Datetime("us", time_zone="UTC"),
}


def empty_decisions() -> pl.DataFrame:
    """A decisions frame with no rows (the decisions schema)."""
    return pl.DataFrame(schema=DECISIONS_SCHEMA)


def load_decisions(audit_dir: Path, db_url: str | None = None) -> pl.DataFrame:
    """Latest decision per row: shard_id, row_index, url_sha256, decision, request_id, decided_at.

    `decision` is 'remove' | 'keep' | 'escalate'. Without a registry database (none created yet
    beside the audit, or one never migrated) the frame is empty, with the same schema.
    """
    url = db_url or default_db_url(audit_dir)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return empty_decisions()
    engine = make_engine(url)
    try:
        if not has_schema(engine):
            return empty_decisions()
        stmt = select(
            Decision.shard_id,
            Decision.row_index,
            Decision.url_sha256,
            Decision.decision,
            Decision.request_id,
            Decision.decided_at,
            Decision.id,
        )
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    finally:
        engine.dispose()
    if not rows:
        return empty_decisions()
    df = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={**DECISIONS_SCHEMA, "id": pl.Int64()},
        orient="row",
    )
    # Ties on the timestamp (same microsecond) fall to the later insert.
    return (
        df.sort(["shard_id", "row_index", "decided_at", "id"])
        .unique(subset=["shard_id", "row_index"], keep="last", maintain_order=True)
        .drop("id")
    )
