"""Release reads reviewers' decisions from the real registry database and reports back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from childguard.registry.db import default_db_url, upgrade
from childguard.registry.models import Decision, RemovalRequest, ReviewTask, User
from childguard.release.build import build_release
from childguard.urls import url_sha256


def _decide(s: Session, user: User, shard: str, row: int, url_hash: str, dec: str, req=None):
    t = ReviewTask(
        task_key=f"x:{shard}:{row}",
        source="request" if req else "scan",
        request_id=req,
        shard_id=shard,
        row_index=row,
        url_sha256=url_hash,
        risk="child",
        risk_rank=2,
        action="review",
        status="done",
    )
    s.add(t)
    s.flush()
    s.add(
        Decision(
            task_id=t.id,
            shard_id=shard,
            row_index=row,
            url_sha256=url_hash,
            decision=dec,
            request_id=req,
            user_id=user.id,
            decided_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )


def test_release_uses_registry_and_marks_requests_removed(audit, dataset, tmp_path: Path):
    a, ids = audit
    sid = ids["a.parquet"]
    urls = pq.read_table(dataset / "a.parquet", columns=["URL"]).column(0).to_pylist()
    engine = upgrade(default_db_url(a))
    with Session(engine) as s:
        user = User(username="rev", password_hash="x", role="reviewer")
        s.add(user)
        s.add(
            RemovalRequest(
                id="req-1",
                token_sha256="t" * 64,
                status="removal_scheduled",
                contact="parent@example.org",
                relationship_to_child="parent",
            )
        )
        s.flush()
        _decide(s, user, sid, 3, url_sha256(urls[3]), "keep")  # held row kept
        _decide(s, user, sid, 90, url_sha256(urls[90]), "remove", req="req-1")
        s.commit()
    engine.dispose()

    res = build_release(a, tmp_path / "r", release_id="r1")  # decisions from registry.sqlite
    man = pl.read_parquet(tmp_path / "r/manifest.parquet")
    assert url_sha256(urls[3]) not in man["url_sha256"].to_list()
    req = man.filter(pl.col("url_sha256") == url_sha256(urls[90]))
    assert req.select("reason", "source").rows() == [("request", "request:req-1")]
    assert res.manifest["counts"]["by_reason"]["held"] == 2  # rows 3 kept, 7 and 0 still held

    engine = upgrade(default_db_url(a))
    with Session(engine) as s:
        r = s.get(RemovalRequest, "req-1")
        assert r is not None and r.status == "removed" and r.release_id == "r1"
    engine.dispose()
