"""Fill the review queue from the scan's findings (`AUDIT/findings/<shard-id>.parquet`).

Rows whose action is `review` or `remove` become review tasks (one per row; idempotent: a
findings file is re-read only when its size or mtime changed, and known rows are skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from childguard.registry.models import RISK_RANK, ImportedFindings, ReviewTask, utcnow

QUEUED_ACTIONS = ("review", "remove")


def scan_task_key(shard_id: str, row_index: int) -> str:
    """The unique key of a review task for a row the scan flagged."""
    return f"scan:{shard_id}:{row_index}"


def request_task_key(request_id: str, shard_id: str, row_index: int) -> str:
    """The unique key of a review task for a row a removal request matched."""
    return f"req:{request_id}:{shard_id}:{row_index}"


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def sync_findings(session: Session, audit_dir: Path) -> int:
    """Import new findings rows into the queue; returns how many tasks were added."""
    folder = Path(audit_dir) / "findings"
    if not folder.is_dir():
        return 0
    added = 0
    for path in sorted(folder.glob("*.parquet")):
        shard_id = path.stem
        fp = _fingerprint(path)
        seen = session.get(ImportedFindings, shard_id)
        if seen is not None and seen.fingerprint == fp:
            continue
        table = pq.read_table(path)
        missing = {"row_index", "risk", "action"} - set(table.column_names)
        if missing:
            raise ValueError(f"{path}: findings lack column(s) {', '.join(sorted(missing))}")
        table = table.filter(pc.is_in(table.column("action"), value_set=_actions()))
        known = set(
            session.scalars(
                select(ReviewTask.row_index).where(
                    ReviewTask.source == "scan", ReviewTask.shard_id == shard_id
                )
            )
        )
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for r in table.to_pylist():
            if r["row_index"] in known:
                continue
            rows.append(
                {
                    "task_key": scan_task_key(shard_id, r["row_index"]),
                    "source": "scan",
                    "request_id": None,
                    "shard_id": shard_id,
                    "row_index": r["row_index"],
                    "url_sha256": r.get("url_sha256"),
                    "laion_hash": r.get("laion_hash"),
                    "risk": r["risk"],
                    "risk_rank": RISK_RANK.get(r["risk"], 9),
                    "action": r["action"],
                    "rule": r.get("rule"),
                    "reasons": _reasons(r.get("reasons")),
                    "match_kind": None,
                    "status": "open",
                    "created_at": now,
                }
            )
        if rows:
            session.execute(insert(ReviewTask), rows)
            added += len(rows)
        if seen is None:
            session.add(ImportedFindings(shard_id=shard_id, fingerprint=fp))
        else:
            seen.fingerprint = fp
            seen.imported_at = now
    session.flush()
    return added


def _actions() -> Any:
    import pyarrow as pa

    return pa.array(QUEUED_ACTIONS)


def _reasons(value: Any) -> list[dict[str, Any]] | None:
    """Findings reasons are already redacted; keep them as plain JSON."""
    if not value:
        return None
    return [
        {k: r.get(k) for k in ("detector", "version", "label", "score", "threshold", "evidence")}
        for r in value
    ]
