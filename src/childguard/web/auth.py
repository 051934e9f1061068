"""Sign in and out (reviewers and admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from childguard.registry.audit import record
from childguard.registry.users import authenticate
from childguard.web.deps import (
    CsrfDep,
    DbDep,
    ReviewerDep,
    SettingsDep,
    check_anon_csrf,
    per_ip,
)
from childguard.web.render import render
from childguard.web.security import SESSION_COOKIE, create_session, end_session, set_cookie

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Only local reviewer paths: never an open redirect."""
    if value and value.startswith("/review") and "//" not in value and "\\" not in value:
        return value
    return "/review"


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> Response:
    """The reviewers' sign-in page."""
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post(
    "/login",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(per_ip("login", lambda s: s.login_per_ip))],
)
async def login(request: Request, settings: SettingsDep) -> Response:
    """Sign a reviewer in (rate-limited per IP, audited) and set the session cookie."""
    from starlette.concurrency import run_in_threadpool

    form = await request.form()
    check_anon_csrf(request, str(form.get("csrf_token") or ""))
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")[:1024]
    nxt = _safe_next(str(form.get("next") or ""))

    def attempt() -> str | None:
        db: Session
        with request.app.state.sessions() as db:
            user = authenticate(db, username, password)
            if user is None:
                record(db, "public", "login_failed", None, {"username": username})
                db.commit()
                return None
            token, _ = create_session(db, user, settings.session_hours)
            record(db, f"user:{user.username}", "login", f"user:{user.id}")
            db.commit()
            return token

    token = await run_in_threadpool(attempt)
    if token is None:
        ctx = {"next": nxt, "error": "wrong username or password"}
        return render(request, "login.html", ctx, status_code=401)
    response = RedirectResponse(nxt, status_code=303)
    set_cookie(
        response,
        SESSION_COOKIE,
        token,
        settings.secure_cookies,
        max_age=int(settings.session_hours * 3600),
    )
    return response


@router.post("/logout", include_in_schema=False, dependencies=[CsrfDep])
def logout(request: Request, reviewer: ReviewerDep, db: DbDep) -> Response:
    """End the reviewer's session (audited) and clear its cookie."""
    end_session(db, request)
    record(db, reviewer.actor, "logout", f"user:{reviewer.user.id}")
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
