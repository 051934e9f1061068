"""Jinja2 rendering with autoescape on every template, and the CSRF token each page needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from childguard.web.security import CSRF_COOKIE, anon_csrf, set_cookie

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    # Every template is escaped, whatever its extension: captions and URLs are untrusted.
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    reviewer: Any = None,
) -> Response:
    """A template rendered with the page's CSRF token (the session's, or a double-submit cookie)."""
    ctx = dict(context)
    set_anon = False
    if reviewer is not None:
        ctx["csrf"] = reviewer.csrf
        ctx["user"] = reviewer.user
    else:
        token, set_anon = anon_csrf(request)
        ctx["csrf"] = token
        ctx.setdefault("user", None)
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if set_anon:
        secure = request.app.state.settings.secure_cookies
        set_cookie(response, CSRF_COOKIE, ctx["csrf"], secure, max_age=6 * 3600)
    return response
