"""CLI: `childguard serve` and `childguard users add|list|disable|enable|set-password|remove`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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
    match_batch_size: int = typer.Option(
        100, "--match-batch-size", help="match requests together once this many are waiting"
    ),
    match_batch_seconds: float = typer.Option(
        60.0, "--match-batch-seconds", help="... or once the oldest has waited this long"
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
        match_batch_size=match_batch_size,
        match_batch_seconds=match_batch_seconds,
    )
    app = create_app(settings)
    # uvicorn's access log prints full paths, and status paths carry tracking tokens: the app
    # logs route templates instead.
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=False)


DbOpt = Annotated[str | None, typer.Option("--db", help="database URL")]
AuditOpt = Annotated[
    Path | None, typer.Option("--audit", help="audit folder (database: AUDIT/registry.sqlite)")
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="read the password from the first line of stdin"),
]
UsernameArg = Annotated[str, typer.Argument(help="login name")]


@contextmanager
def _registry(db: str | None, audit: Path | None) -> Iterator[Session]:
    """A session on the registry named by exactly one of --db / --audit, committed on success;
    a UserError is one line and exit 2."""
    from sqlalchemy.orm import Session

    from childguard.registry.db import default_db_url, normalize_db_url, upgrade
    from childguard.registry.users import UserError

    if (db is None) == (audit is None):
        raise typer.BadParameter("give exactly one of --db URL or --audit DIR")
    url = normalize_db_url(db) if db else default_db_url(audit)  # type: ignore[arg-type]
    engine = upgrade(url)
    try:
        with Session(engine) as session:
            try:
                yield session
            except UserError as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(2) from None
            session.commit()
    finally:
        engine.dispose()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    username: UsernameArg,
    role: Annotated[str, typer.Option("--role", help="reviewer | admin")],
    db: DbOpt = None,
    audit: AuditOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Create a reviewer or admin account (password prompted, or read from stdin)."""
    from childguard.registry.users import add_user

    with _registry(db, audit) as session:
        add_user(session, username, _read_password(password_stdin), role)
    typer.echo(f"user {username} ({role}) added")


@users_app.command("list")
def users_list(db: DbOpt = None, audit: AuditOpt = None) -> None:
    """List accounts: name, role, enabled or disabled, created (never a password hash)."""
    from childguard.registry.users import list_users

    with _registry(db, audit) as session:
        users = list_users(session)
        if not users:
            typer.echo("no users (add one: childguard users add NAME --role admin ...)")
            return
        typer.echo(f"{'user':<24} {'role':<9} {'state':<9} created (UTC)")
        for u in users:
            state = "disabled" if u.disabled else "enabled"
            typer.echo(f"{u.username:<24} {u.role:<9} {state:<9} {u.created_at:%Y-%m-%d %H:%M}")


@users_app.command("disable")
def users_disable(username: UsernameArg, db: DbOpt = None, audit: AuditOpt = None) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from childguard.registry.users import set_disabled

    with _registry(db, audit) as session:
        set_disabled(session, username, True)
    typer.echo(f"user {username} disabled")


@users_app.command("enable")
def users_enable(username: UsernameArg, db: DbOpt = None, audit: AuditOpt = None) -> None:
    """Enable a disabled account again."""
    from childguard.registry.users import set_disabled

    with _registry(db, audit) as session:
        set_disabled(session, username, False)
    typer.echo(f"user {username} enabled")


@users_app.command("set-password")
def users_set_password(
    username: UsernameArg,
    db: DbOpt = None,
    audit: AuditOpt = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Set a new password (prompted, or read from stdin); the account's open sessions end."""
    from childguard.registry.users import set_password

    with _registry(db, audit) as session:
        set_password(session, username, _read_password(password_stdin))
    typer.echo(f"password of {username} changed")


@users_app.command("remove")
def users_remove(
    username: UsernameArg,
    db: DbOpt = None,
    audit: AuditOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete an account that made no decisions (one that did can only be disabled)."""
    from childguard.registry.users import remove_user

    if not yes and not typer.confirm(f"Delete user {username}?"):
        raise typer.Exit(1)
    with _registry(db, audit) as session:
        remove_user(session, username)
    typer.echo(f"user {username} removed")
