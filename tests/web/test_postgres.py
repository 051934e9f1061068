"""The service on PostgreSQL (when CHILDGUARD_TEST_PG_URL is set; see .ci/postgres.sh)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from childguard.registry.db import make_engine
from childguard.registry.decisions import load_decisions
from childguard.registry.users import add_user
from childguard.web.app import create_app
from childguard.web.settings import Settings

from .conftest import PASSWORD, drain, login

PG_URL = os.environ.get("CHILDGUARD_TEST_PG_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL, reason="CHILDGUARD_TEST_PG_URL not set (start one with .ci/postgres.sh)"
    ),
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    assert PG_URL
    admin = make_engine(PG_URL)
    name = f"cg_web_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # template0 accepts no connections, so a concurrent client cannot make CREATE fail
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_request_match_decide_on_postgres(audit: Path, pg_url: str) -> None:
    app = create_app(Settings(audit_dir=audit, db_url=pg_url, rate_limit=False))
    with Session(app.state.engine) as s:
        add_user(s, "rita", PASSWORD, "reviewer")
        s.commit()
    with TestClient(app, follow_redirects=False) as client:
        token = client.post(
            "/api/requests",
            json={
                "child_name": "Ana Sofia",
                "domains": ["example.org"],
                "contact": "guardian@example.org",
                "relationship": "parent",
                "declaration": True,
            },
        ).json()["token"]
        drain(client)
        csrf = login(client)
        tasks = client.get("/review/api/tasks").json()
        assert [t["row_index"] for t in tasks][:1] == [0]  # highest risk first
        req_tasks = [t for t in tasks if t["source"] == "request"]
        assert {t["row_index"] for t in req_tasks} == {0, 3, 4}
        for t in req_tasks:
            r = client.post(
                f"/review/tasks/{t['id']}/decide", data={"decision": "remove", "csrf_token": csrf}
            )
            assert r.status_code == 303
        assert client.get(f"/api/requests/{token}").json()["status"] == "removal_scheduled"
        assert client.get("/review/tasks/1").status_code == 200
    df = load_decisions(audit, db_url=pg_url)
    assert sorted(df["row_index"].to_list()) == [0, 3, 4]
    assert set(df["decision"]) == {"remove"}
    app.state.engine.dispose()
