"""Sessions, CSRF tokens, tracking tokens and response headers.

- Reviewer sessions are server-side: the cookie holds 32 random bytes, the database only their
  SHA-256, so a copy of the database opens no session. Cookies are HttpOnly, SameSite=Strict.
- Every form POST carries a CSRF token: the session's for signed-in users, and a double-submit
  cookie for the public forms and the login form.
- Tracking tokens are shown once to the requester; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from childguard.registry.models import User, WebSession, utcnow

SESSION_COOKIE = "cg_session"
CSRF_COOKIE = "cg_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def sha256(value: str) -> str:
    """Hex SHA-256 of a string (what the database stores of tokens)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token."""
    return secrets.token_urlsafe(nbytes)


def same(a: str | None, b: str | None) -> bool:
    """True when both are set and equal (compared in constant time)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def set_cookie(response: Response, name: str, value: str, secure: bool, max_age: int) -> None:
    """Set an HttpOnly, SameSite=Strict cookie for the whole site."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )


def create_session(db: Session, user: User, hours: float) -> tuple[str, WebSession]:
    """A new reviewer session: (cookie token, row holding its hash); drops expired ones."""
    token = new_token()
    now = utcnow()
    ws = WebSession(
        id_sha256=sha256(token),
        user_id=user.id,
        csrf_token=new_token(24),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    db.add(ws)
    # Expired sessions go whenever someone signs in: no cron needed.
    db.execute(delete(WebSession).where(WebSession.expires_at < now))
    return token, ws


def load_session(db: Session, request: Request) -> WebSession | None:
    """The live session of the request's cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    ws = db.scalar(select(WebSession).where(WebSession.id_sha256 == sha256(token)))
    if ws is None or ws.expires_at < utcnow() or ws.user.disabled:
        return None
    return ws


def end_session(db: Session, request: Request) -> None:
    """Delete the session of the request's cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        db.execute(delete(WebSession).where(WebSession.id_sha256 == sha256(token)))


def anon_csrf(request: Request) -> tuple[str, bool]:
    """The double-submit token of an anonymous client: (token, whether it must be set)."""
    tok = request.cookies.get(CSRF_COOKIE)
    if tok and 20 <= len(tok) <= 100:
        return tok, False
    return new_token(24), True


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
