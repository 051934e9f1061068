"""The FastAPI application factory: `create_app(Settings(audit_dir=...))`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from childguard.registry.db import session_factory, upgrade
from childguard.registry.queue import sync_findings
from childguard.web import auth, public, reviewer
from childguard.web.bodylimit import BodyLimitMiddleware
from childguard.web.deps import LoginRequired
from childguard.web.matcher import Matcher
from childguard.web.ratelimit import RateLimiter
from childguard.web.render import STATIC_DIR, render
from childguard.web.security import SECURITY_HEADERS
from childguard.web.settings import Settings

log = logging.getLogger("childguard.web")


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or "/api/" in path:
        return False
    return "text/html" in request.headers.get("accept", "")


def create_app(settings: Settings) -> FastAPI:
    """The web service: migrated registry, public and reviewer routes, matcher, security headers."""
    engine = upgrade(settings.database_url)
    sessions = session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if matcher.start():
            matcher.resume()  # requests cancelled by the last shutdown
        yield
        matcher.shutdown()
        engine.dispose()

    app = FastAPI(
        title="childguard removal requests and review",
        version="1",
        description=(
            "Guardians submit removal requests and follow their status; reviewers confirm what "
            "the detectors flagged. Requesters only ever see a status."
        ),
        docs_url=None,  # the docs UI loads scripts from a CDN; /openapi.json is served
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.limiter = RateLimiter()
    matcher = Matcher(
        sessions,
        settings.audit_dir,
        batch_size=settings.match_batch_size,
        batch_seconds=settings.match_batch_seconds,
    )
    app.state.matcher = matcher

    if settings.sync_on_start:
        s: Session
        with sessions() as s:
            added = sync_findings(s, settings.audit_dir)
            s.commit()
        log.info("review queue: %d new task(s) from findings", added)
    resumed = matcher.resume()
    if resumed:
        log.info("matching resumed for %d request(s)", resumed)

    @app.middleware("http")
    async def headers_and_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        route = request.scope.get("route")
        # The route template, never the path: paths carry tracking tokens.
        log.info(
            "%s %s %d %.1fms",
            request.method,
            getattr(route, "path", "-"),
            response.status_code,
            (time.perf_counter() - t0) * 1000,
        )
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_html(request) and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": "sign in required"}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Say what is wrong and where, without echoing the submitted values back.
        errors = [
            {
                "loc": [str(x) for x in e.get("loc", ())],
                "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                "type": str(e.get("type", "value_error")),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if _wants_html(request):
            ctx = {"status_code": exc.status_code, "detail": exc.detail}
            resp = render(request, "error.html", ctx, status_code=exc.status_code)
            if headers:
                resp.headers.update(headers)
            return resp
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    # Base64 makes a JSON photo 4/3 of its size; nothing else comes near this cap.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_photo_bytes * 4 // 3 + 512 * 1024
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(public.router)
    app.include_router(auth.router)
    app.include_router(reviewer.router)
    return app
