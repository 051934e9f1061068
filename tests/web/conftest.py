from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from childguard.registry.models import User
from childguard.registry.users import add_user
from childguard.web.app import create_app
from childguard.web.settings import Settings

from .fixtures import make_audit

PASSWORD = "correct horse battery"


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return make_audit(tmp_path)


def make_client(audit: Path, **overrides: object) -> TestClient:
    opts: dict[str, object] = {"rate_limit": False, **overrides}
    settings = Settings(audit_dir=audit, **opts)  # type: ignore[arg-type]
    app = create_app(settings)
    with Session(app.state.engine) as s:
        for name, role in (("rita", "reviewer"), ("ada", "admin")):
            if s.scalar(select(User).where(User.username == name)) is None:
                add_user(s, name, PASSWORD, role)
        s.commit()
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
