"""Registry tests run on SQLite always, and on PostgreSQL when CHILDGUARD_TEST_PG_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from childguard.registry.db import default_db_url, make_engine, upgrade

PG_URL = os.environ.get("CHILDGUARD_TEST_PG_URL")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not PG_URL,
                    reason="CHILDGUARD_TEST_PG_URL not set (start one with .ci/postgres.sh)",
                ),
            ],
        ),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a throwaway schema-less PG database."""
    if request.param == "sqlite":
        yield default_db_url(tmp_path / "audit")
        return
    assert PG_URL
    admin = make_engine(PG_URL)
    name = f"cg_test_{uuid.uuid4().hex[:12]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # template0 accepts no connections, so a concurrent client cannot make CREATE fail
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    base = admin.url.set(database=name)
    yield base.render_as_string(hide_password=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = upgrade(db_url)
    yield eng
    eng.dispose()
