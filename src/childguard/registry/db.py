"""Database URLs, engines and migrations for the registry.

SQLite by default, in a file beside the audit (`AUDIT_DIR/registry.sqlite`); PostgreSQL by a
`postgresql+psycopg://` URL. The schema comes only from the Alembic migrations shipped in
`childguard/registry/migrations`, applied with `upgrade()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DB_FILENAME = "registry.sqlite"


def default_db_url(audit_dir: str | Path) -> str:
    """The SQLite URL of the registry file beside an audit folder."""
    return f"sqlite:///{Path(audit_dir).resolve() / DB_FILENAME}"


def normalize_db_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the only PostgreSQL driver childguard ships)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other backends and in-memory databases)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a registry URL (SQLite: folder made, foreign keys and WAL on)."""
    url = normalize_db_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if make_url(url).get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(db: str | Engine, revision: str = "head") -> Engine:
    """Apply every migration up to `revision`; returns the engine (created if given a URL)."""
    from alembic import command

    engine = make_engine(db) if isinstance(db, str) else db
    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def downgrade(db: str | Engine, revision: str = "base") -> None:
    """Run the Alembic migrations down to `revision` (default: an empty schema)."""
    from alembic import command

    engine = make_engine(db) if isinstance(db, str) else db
    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def has_schema(engine: Engine) -> bool:
    """True when the database has the registry tables (the `decisions` table)."""
    return inspect(engine).has_table("decisions")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session maker for the engine whose objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
