"""Reviewers' decisions and what they mean for a removal request's status.

A request is `received` until a reviewer opens it or decides one of its rows (`under_review`);
once every matched row has a decision that is not `escalate`, it becomes `removal_scheduled`
(some row is to be removed) or `not_found` (nothing to remove); a release that carries the
removal turns it into `removed` with the release id. Nothing else changes what the requester
sees, so the status never tells whether anything matched before a human has decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from childguard.registry.audit import record
from childguard.registry.db import default_db_url, upgrade
from childguard.registry.models import (
    DECISIONS,
    Decision,
    RemovalRequest,
    ReviewTask,
    User,
    utcnow,
)

MAX_NOTE = 2000


class ReviewError(ValueError):
    """A review action that is not allowed (bad decision, note too long, ...)."""
    pass


def _set_status(req: RemovalRequest, status: str, release_id: str | None = None) -> None:
    if req.status != status or release_id:
        req.status = status
        req.release_id = release_id
        req.updated_at = utcnow()


def mark_seen(session: Session, req: RemovalRequest) -> None:
    """Move a `received` request to `under_review` (a reviewer opened it)."""
    if req.status == "received":
        _set_status(req, "under_review")


def latest_decisions(session: Session, task_ids: Iterable[int]) -> dict[int, Decision]:
    """Task id -> its latest decision, for the given task ids."""
    ids = list(task_ids)
    if not ids:
        return {}
    last = (
        select(Decision.task_id, func.max(Decision.id).label("id"))
        .where(Decision.task_id.in_(ids))
        .group_by(Decision.task_id)
        .subquery()
    )
    rows = session.scalars(select(Decision).join(last, Decision.id == last.c.id))
    return {d.task_id: d for d in rows}


def refresh_request(session: Session, req: RemovalRequest) -> None:
    """Recompute a request's status from the latest decisions on its rows."""
    if req.status in ("removed",):
        return
    tasks = list(session.scalars(select(ReviewTask).where(ReviewTask.request_id == req.id)))
    if not tasks:
        return
    latest = latest_decisions(session, [t.id for t in tasks])
    if len(latest) < len(tasks) or any(d.decision == "escalate" for d in latest.values()):
        if req.status in ("received", "removal_scheduled", "not_found"):
            _set_status(req, "under_review")
        return
    if any(d.decision == "remove" for d in latest.values()):
        _set_status(req, "removal_scheduled")
    else:
        _set_status(req, "not_found")


def decide(
    session: Session, task: ReviewTask, user: User, decision: str, note: str | None
) -> Decision:
    """Append a decision for one row (decisions are never edited; the latest one wins)."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}")
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise ReviewError(f"note is longer than {MAX_NOTE} characters")
    d = Decision(
        task_id=task.id,
        shard_id=task.shard_id,
        row_index=task.row_index,
        url_sha256=task.url_sha256,
        decision=decision,
        note=note,
        request_id=task.request_id,
        user_id=user.id,
        decided_at=utcnow(),
    )
    session.add(d)
    task.status = "escalated" if decision == "escalate" else "decided"
    session.flush()
    record(
        session,
        f"user:{user.username}",
        "decide",
        f"task:{task.id}",
        {"decision": decision, "shard_id": task.shard_id, "row_index": task.row_index},
    )
    if task.request_id:
        req = session.get(RemovalRequest, task.request_id)
        if req is not None:
            refresh_request(session, req)
    return d


def close_not_found(session: Session, req: RemovalRequest, user: User, note: str | None) -> None:
    """A reviewer closes a request with no row to remove (nothing matched, or all kept)."""
    tasks = session.scalars(select(ReviewTask.id).where(ReviewTask.request_id == req.id)).all()
    latest = latest_decisions(session, tasks)
    if any(d.decision == "remove" for d in latest.values()):
        raise ReviewError("this request has rows decided for removal")
    _set_status(req, "not_found")
    record(
        session,
        f"user:{user.username}",
        "close_request",
        f"request:{req.id}",
        {"status": "not_found", "note": bool(note)},
    )


def record_release(
    audit_dir: Path, release_id: str, request_ids: Iterable[str], db_url: str | None = None
) -> int:
    """Called by `childguard release`: requests whose removals the release carried become
    `removed` in `release_id`. Returns how many requests changed."""
    ids = {r for r in request_ids if r}
    if not ids:
        return 0
    engine = upgrade(db_url or default_db_url(audit_dir))
    try:
        with Session(engine) as session, session.begin():
            n = 0
            for req in session.scalars(select(RemovalRequest).where(RemovalRequest.id.in_(ids))):
                if req.status == "removal_scheduled":
                    _set_status(req, "removed", release_id)
                    n += 1
            record(session, "release", "release", f"release:{release_id}", {"requests": n})
            return n
    finally:
        engine.dispose()


__all__ = [
    "ReviewError",
    "close_not_found",
    "decide",
    "latest_decisions",
    "mark_seen",
    "record_release",
    "refresh_request",
]
