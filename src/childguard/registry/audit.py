"""The append-only audit log: who saw, revealed or decided what, and when.

Details carry ids, hashes and redacted text only; never an original caption or URL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from childguard.registry.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event (actor, action, target, detail) to the session; returns it."""
    ev = AuditEvent(actor=actor[:80], action=action[:40], target=target, detail=detail)
    session.add(ev)
    return ev


def recent(session: Session, limit: int = 200, offset: int = 0) -> list[AuditEvent]:
    """Audit events, newest first, one page of `limit` from `offset`."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))
