from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from childguard.cli import app
from childguard.registry.db import default_db_url, make_engine
from childguard.registry.users import authenticate

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
