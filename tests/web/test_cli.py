from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from childguard.cli import app
from childguard.registry.db import default_db_url, make_engine
from childguard.registry.models import AuditEvent, ReviewTask, User, WebSession
from childguard.registry.review import decide
from childguard.registry.users import authenticate
from childguard.web.security import create_session

runner = CliRunner()


def test_users_add_reads_password_from_stdin(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        ["users", "add", "rita", "--role", "admin", "--audit", str(tmp_path), "--password-stdin"],
        input="a long passphrase\n",
    )
    assert r.exit_code == 0, r.output
    assert "passphrase" not in r.output
    engine = make_engine(default_db_url(tmp_path))
    with Session(engine) as s:
        user = authenticate(s, "rita", "a long passphrase")
        assert user is not None and user.role == "admin"
    engine.dispose()
    again = runner.invoke(
        app,
        ["users", "add", "rita", "--role", "admin", "--audit", str(tmp_path), "--password-stdin"],
        input="a long passphrase\n",
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_users_add_checks_its_options(tmp_path: Path) -> None:
    r = runner.invoke(app, ["users", "add", "rita", "--role", "reviewer", "--password-stdin"])
    assert r.exit_code != 0 and "--db" in r.output
    r = runner.invoke(
        app,
        ["users", "add", "rita", "--role", "root", "--audit", str(tmp_path), "--password-stdin"],
        input="a long passphrase\n",
    )
    assert r.exit_code == 2 and "role" in r.output


def test_serve_refuses_a_missing_audit_folder(tmp_path: Path) -> None:
    r = runner.invoke(app, ["serve", "--audit", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "--audit" in r.output


def _users(tmp_path: Path, *args: str, password: str | None = None):
    extra = ["--password-stdin"] if password is not None else []
    return runner.invoke(
        app,
        ["users", *args, "--audit", str(tmp_path), *extra],
        input=None if password is None else password + "\n",
    )


def _audit_actions(tmp_path: Path) -> list[tuple[str, str, dict]]:
    engine = make_engine(default_db_url(tmp_path))
    with Session(engine) as s:
        rows = [(e.action, e.target or "", e.detail or {}) for e in s.scalars(select(AuditEvent))]
    engine.dispose()
    return rows


def test_users_list_disable_enable_set_password_remove_are_audited(tmp_path: Path) -> None:
    assert (
        _users(tmp_path, "add", "rita", "--role", "admin", password="a long passphrase").exit_code
        == 0
    )
    assert (
        _users(
            tmp_path, "add", "joao", "--role", "reviewer", password="another passphrase"
        ).exit_code
        == 0
    )
    listed = _users(tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:3] == ["user", "role", "state"]
    assert [ln.split()[:3] for ln in lines[1:]] == [
        ["joao", "reviewer", "enabled"],
        ["rita", "admin", "enabled"],
    ]
    assert "argon2" not in listed.output

    # a signed-in browser of joao's: disabling ends it, and joao cannot sign in again
    engine = make_engine(default_db_url(tmp_path))
    with Session(engine) as s:
        joao = s.scalar(select(User).where(User.username == "joao"))
        assert joao is not None
        create_session(s, joao, hours=1)
        s.commit()
    assert _users(tmp_path, "disable", "joao").exit_code == 0
    with Session(engine) as s:
        assert s.scalar(select(WebSession)) is None
        assert authenticate(s, "joao", "another passphrase") is None
    assert "disabled" in _users(tmp_path, "list").output.splitlines()[1]
    assert _users(tmp_path, "enable", "joao").exit_code == 0

    changed = _users(tmp_path, "set-password", "joao", password="a brand new passphrase")
    assert changed.exit_code == 0 and "passphrase" not in changed.output
    with Session(engine) as s:
        assert authenticate(s, "joao", "another passphrase") is None
        assert authenticate(s, "joao", "a brand new passphrase") is not None
    short = _users(tmp_path, "set-password", "joao", password="short")
    assert short.exit_code == 2 and "at least" in short.output
    engine.dispose()

    assert _users(tmp_path, "remove", "joao", "--yes").exit_code == 0
    assert [ln.split()[0] for ln in _users(tmp_path, "list").output.splitlines()[1:]] == ["rita"]
    missing = _users(tmp_path, "remove", "joao", "--yes")
    assert missing.exit_code == 2 and "no user 'joao'" in missing.output

    actions = [(a, d.get("username")) for a, _, d in _audit_actions(tmp_path)]
    assert actions == [
        ("user_add", "rita"),
        ("user_add", "joao"),
        ("user_disable", "joao"),
        ("user_enable", "joao"),
        ("user_set_password", "joao"),
        ("user_remove", "joao"),
    ]
    disabled = next(d for a, _, d in _audit_actions(tmp_path) if a == "user_disable")
    assert disabled["sessions_ended"] == 1
    # the log never holds a password or its hash
    assert "passphrase" not in str(_audit_actions(tmp_path)) and "argon2" not in str(
        _audit_actions(tmp_path)
    )


def test_a_user_with_decisions_is_disabled_not_removed(tmp_path: Path) -> None:
    assert (
        _users(
            tmp_path, "add", "rita", "--role", "reviewer", password="a long passphrase"
        ).exit_code
        == 0
    )
    engine = make_engine(default_db_url(tmp_path))
    with Session(engine) as s:
        rita = s.scalar(select(User).where(User.username == "rita"))
        assert rita is not None
        task = ReviewTask(
            task_key="scan:shard:1",
            source="scan",
            shard_id="shard",
            row_index=1,
            risk="child",
            risk_rank=2,
            action="review",
            status="open",
        )
        s.add(task)
        s.flush()
        decide(s, task, rita, "keep", None)
        s.commit()
    engine.dispose()
    refused = _users(tmp_path, "remove", "rita", "--yes")
    assert (
        refused.exit_code == 2 and "1 decision(s)" in refused.output and "disable" in refused.output
    )
    assert "rita" in _users(tmp_path, "list").output
    assert "user_remove" not in [a for a, _, _ in _audit_actions(tmp_path)]


def test_users_remove_asks_first(tmp_path: Path) -> None:
    assert (
        _users(
            tmp_path, "add", "rita", "--role", "reviewer", password="a long passphrase"
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["users", "remove", "rita", "--audit", str(tmp_path)], input="n\n")
    assert r.exit_code == 1
    assert "rita" in _users(tmp_path, "list").output
