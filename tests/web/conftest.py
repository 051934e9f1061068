from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from childguard.registry.db import DB_FILENAME, default_db_url, upgrade
from childguard.registry.models import User
from childguard.registry.users import add_user
from childguard.web.app import create_app
from childguard.web.settings import Settings

from .fixtures import make_audit

PASSWORD = "correct horse battery"


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return make_audit(tmp_path)


_TEMPLATE: list[Path] = []


def _template_db() -> Path:
    """A migrated registry with the two test users, built once and copied per test (argon2
    hashing and migrations are the slow part of a test's setup)."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="cg-web-template-"))
        atexit.register(shutil.rmtree, folder, True)
        engine = upgrade(default_db_url(folder))
        with Session(engine) as s:
            for name, role in (("rita", "reviewer"), ("ada", "admin")):
                add_user(s, name, PASSWORD, role)
            s.commit()
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _TEMPLATE.append(folder / DB_FILENAME)
    return _TEMPLATE[0]


def make_client(audit: Path, **overrides: object) -> TestClient:
    db = audit / DB_FILENAME
    if not db.exists():
        shutil.copyfile(_template_db(), db)
    opts: dict[str, object] = {"rate_limit": False, **overrides}
    settings = Settings(audit_dir=audit, **opts)  # type: ignore[arg-type]
    app = create_app(settings)
    with Session(app.state.engine) as s:
        assert s.scalar(select(User).where(User.username == "rita")) is not None
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def client(audit: Path) -> Iterator[TestClient]:
    with make_client(audit) as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


def login(client: TestClient, username: str = "rita") -> str:
    """Sign in; returns the session's CSRF token."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/review").text)


def drain(client: TestClient) -> None:
    """Wait for the background matching of every request submitted so far."""
    client.app.state.matcher.drain()  # type: ignore[attr-defined]
