"""CLI: `childguard serve` and `childguard users add`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

users_app = typer.Typer(
    help="Reviewer accounts of the removal-request service.", no_args_is_help=True
)


def serve_cmd(
    audit: Path = typer.Option(..., "--audit", help="the scan's audit folder (findings, run.json)"),
    db: str | None = typer.Option(
        None, "--db", help="database URL (default: sqlite:///AUDIT/registry.sqlite)"
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface)"
    ),
    port: int = typer.Option(8000, "--port", help="TCP port to listen on"),
    no_rate_limit: bool = typer.Option(
        False, "--no-rate-limit", help="turn off per-client limits (load tests only)"
    ),
    secure_cookies: bool = typer.Option(
        False, "--secure-cookies", help="mark cookies Secure (when served over HTTPS)"
    ),
) -> None:
    """Serve removal requests (public) and the review queue (reviewers)."""
    import logging

    import uvicorn

    from childguard.web.app import create_app
    from childguard.web.settings import Settings

    if not audit.is_dir():
        raise typer.BadParameter(f"{audit} is not a folder", param_hint="--audit")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    settings = Settings(
        audit_dir=audit.resolve(),
        db_url=db,
        rate_limit=not no_rate_limit,
        secure_cookies=secure_cookies,
    )
    app = create_app(settings)
    # uvicorn's access log prints full paths, and status paths carry tracking tokens: the app
    # logs route templates instead.
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=False)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="login name"),
    role: str = typer.Option(..., "--role", help="reviewer | admin"),
    db: str | None = typer.Option(None, "--db", help="database URL"),
    audit: Path | None = typer.Option(
        None, "--audit", help="audit folder (database: AUDIT/registry.sqlite)"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from the first line of stdin"
    ),
) -> None:
    """Create a reviewer or admin account (password prompted, or read from stdin)."""
    from sqlalchemy.orm import Session

    from childguard.registry.db import default_db_url, normalize_db_url, upgrade
    from childguard.registry.users import UserError, add_user

    if (db is None) == (audit is None):
        raise typer.BadParameter("give exactly one of --db URL or --audit DIR")
    url = normalize_db_url(db) if db else default_db_url(audit)  # type: ignore[arg-type]
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = upgrade(url)
    try:
        with Session(engine) as session:
            try:
                add_user(session, username, password, role)
            except UserError as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(2) from None
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"user {username} ({role}) added")
