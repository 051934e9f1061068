from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from childguard.registry.decisions import DECISIONS_SCHEMA, load_decisions
from childguard.registry.models import Decision, ReviewTask, User


def _task(s: Session, shard: str, row: int) -> ReviewTask:
    t = ReviewTask(
        task_key=f"scan:{shard}:{row}",
        source="scan",
        shard_id=shard,
        row_index=row,
        url_sha256="ab" * 32,
        risk="child",
        risk_rank=2,
        action="review",
        status="open",
    )
    s.add(t)
    s.flush()
    return t


def test_absent_database_gives_empty_frame_with_schema(tmp_path: Path) -> None:
    df = load_decisions(tmp_path)
    assert df.height == 0
    assert dict(df.schema) == DECISIONS_SCHEMA
    assert not (tmp_path / "registry.sqlite").exists()


def test_unmigrated_database_gives_empty_frame(tmp_path: Path) -> None:
    (tmp_path / "registry.sqlite").touch()
    assert load_decisions(tmp_path).height == 0


def test_latest_decision_per_row_wins(engine: Engine, db_url: str, tmp_path: Path) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as s:
        u = User(username="rev", password_hash="x", role="reviewer")
        s.add(u)
        s.flush()
        a, b = _task(s, "shard-a", 3), _task(s, "shard-b", 7)
        for task, dec, dt in [
            (a, "escalate", t0),
            (a, "remove", t0 + timedelta(minutes=5)),
            (b, "remove", t0),
            (b, "keep", t0 + timedelta(hours=1)),
        ]:
            s.add(
                Decision(
                    task_id=task.id,
                    shard_id=task.shard_id,
                    row_index=task.row_index,
                    url_sha256=task.url_sha256,
                    decision=dec,
                    request_id=None,
                    user_id=u.id,
                    decided_at=dt,
                )
            )
        s.commit()
    df = load_decisions(tmp_path / "unused", db_url=db_url)
    assert dict(df.schema) == DECISIONS_SCHEMA
    got = {(r["shard_id"], r["row_index"]): r["decision"] for r in df.iter_rows(named=True)}
    assert got == {("shard-a", 3): "remove", ("shard-b", 7): "keep"}
    assert df.filter(pl.col("shard_id") == "shard-a")["decided_at"][0] == t0 + timedelta(minutes=5)
