"""Typed FastAPI dependencies: database session, signed-in reviewer, CSRF, rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from childguard.registry.models import User, WebSession
from childguard.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    load_session,
    same,
)
from childguard.web.settings import RateLimit, Settings


class LoginRequired(Exception):
    """Raised for anonymous clients on reviewer routes: pages redirect, APIs answer 401."""


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Session, Depends(get_db)]


@dataclass
class Reviewer:
    """The signed-in user and their web session."""
    user: User
    session: WebSession

    @property
    def actor(self) -> str:
        """The name audit events record for this reviewer (`user:<username>`)."""
        return f"user:{self.user.username}"

    @property
    def csrf(self) -> str:
        """The session's CSRF token."""
        return self.session.csrf_token


def require_reviewer(request: Request, db: DbDep) -> Reviewer:
    """The signed-in reviewer (LoginRequired when there is none)."""
    ws = load_session(db, request)
    if ws is None:
        raise LoginRequired()
    return Reviewer(ws.user, ws)


ReviewerDep = Annotated[Reviewer, Depends(require_reviewer)]


def require_admin(reviewer: ReviewerDep) -> Reviewer:
    """The signed-in reviewer if an admin, else 403."""
    if reviewer.user.role != "admin":
        raise HTTPException(status_code=403, detail="admins only")
    return reviewer


AdminDep = Annotated[Reviewer, Depends(require_admin)]


async def check_csrf(request: Request, reviewer: ReviewerDep) -> None:
    """Signed-in POSTs: the form field (or header, for the JSON API) must be the session's."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not same(sent, reviewer.csrf):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong; reload the page")


CsrfDep = Depends(check_csrf)


def check_anon_csrf(request: Request, sent: str | None) -> None:
    """Anonymous forms: the posted token must equal the double-submit cookie (else 403)."""
    if not same(sent, request.cookies.get(CSRF_COOKIE)):
        raise HTTPException(
            status_code=403, detail="form expired or cookies blocked; reload the page and retry"
        )


def client_ip(request: Request) -> str:
    # No X-Forwarded-For: behind a proxy, configure it to set the client address (uvicorn
    # --proxy-headers with --forwarded-allow-ips) rather than trusting a header here.
    """The client's address as the server saw it (no forwarded headers trusted)."""
    return request.client.host if request.client else "unknown"


def limit(request: Request, name: str, key: str, rule: RateLimit) -> None:
    """Take a token from the named bucket of `key`, or answer 429 with Retry-After."""
    settings: Settings = request.app.state.settings
    if not settings.rate_limit:
        return
    wait = request.app.state.limiter.allow(name, key, rule)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail="too many requests; try again later",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )


def per_ip(name: str, pick: Callable[[Settings], RateLimit]) -> Callable[[Request], None]:
    """A dependency that rate-limits a route per client IP with the rule `pick` selects."""
    def dep(request: Request) -> None:
        limit(request, name, client_ip(request), pick(request.app.state.settings))

    return dep
