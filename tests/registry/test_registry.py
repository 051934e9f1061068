from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from childguard.registry.audit import record
from childguard.registry.db import downgrade, upgrade
from childguard.registry.models import AuditEvent, RemovalRequest, ReviewTask
from childguard.registry.review import decide, mark_seen, record_release
from childguard.registry.users import UserError, add_user, authenticate

TABLES = {
    "users",
    "web_sessions",
    "requests",
    "request_targets",
    "review_tasks",
    "decisions",
    "audit_log",
    "imported_findings",
}


def test_migrations_go_up_down_and_up_again(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine)
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_audit_log_and_decisions_are_append_only(engine: Engine) -> None:
    with Session(engine) as s:
        record(s, "user:rita", "reveal", "task:1", {"row_index": 3})
        s.commit()
    for stmt in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))
    with Session(engine) as s:
        assert [e.actor for e in s.scalars(select(AuditEvent))] == ["user:rita"]


def test_users_hash_passwords_and_check_input(engine: Engine) -> None:
    with Session(engine) as s:
        u = add_user(s, "rita", "a long passphrase", "reviewer")
        s.commit()
        assert u.password_hash.startswith("$argon2id$")
        assert "passphrase" not in u.password_hash
        assert authenticate(s, "rita", "a long passphrase") is not None
        assert authenticate(s, "rita", "wrong password!!") is None
        assert authenticate(s, "nobody", "a long passphrase") is None
        with pytest.raises(UserError, match="already exists"):
            add_user(s, "rita", "another passphrase", "admin")
        with pytest.raises(UserError, match="at least"):
            add_user(s, "bob", "short", "admin")
        with pytest.raises(UserError, match="role"):
            add_user(s, "bob", "a long passphrase", "root")


def _request_with_tasks(s: Session, n: int) -> tuple[RemovalRequest, list[ReviewTask]]:
    req = RemovalRequest(
        id="11111111-2222-3333-4444-555555555555",
        token_sha256="f" * 64,
        status="received",
        contact="g@example.org",
        relationship_to_child="parent",
    )
    s.add(req)
    tasks = [
        ReviewTask(
            task_key=f"req:{req.id}:shard:{i}",
            source="request",
            request_id=req.id,
            shard_id="shard",
            row_index=i,
            risk="request",
            risk_rank=1,
            action="review",
            status="open",
        )
        for i in range(n)
    ]
    s.add_all(tasks)
    s.flush()
    return req, tasks


def test_request_status_follows_decisions_then_release(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with Session(engine) as s:
        user = add_user(s, "rita", "a long passphrase", "reviewer")
        req, tasks = _request_with_tasks(s, 2)
        assert req.status == "received"
        mark_seen(s, req)
        assert req.status == "under_review"
        decide(s, tasks[0], user, "remove", "clearly the child")
        assert req.status == "under_review"  # one row still open
        decide(s, tasks[1], user, "escalate", None)
        assert req.status == "under_review"
        decide(s, tasks[1], user, "keep", "someone else")
        assert req.status == "removal_scheduled"
        s.commit()
        rid = req.id
    assert record_release(tmp_path, "2026-12", [rid], db_url=db_url) == 1
    with Session(engine) as s:
        got = s.get(RemovalRequest, rid)
        assert got is not None
        assert (got.status, got.release_id) == ("removed", "2026-12")


def test_all_kept_means_not_found(engine: Engine) -> None:
    with Session(engine) as s:
        user = add_user(s, "rita", "a long passphrase", "reviewer")
        req, tasks = _request_with_tasks(s, 1)
        decide(s, tasks[0], user, "keep", None)
        assert req.status == "not_found"
