"""Public routes: the request form, the status page and the JSON API for removal requests.

Whatever a requester sends, the answers are the same: a token, then a status that stays
`received`/`under_review` until a reviewer decides. No route here reveals matches or counts,
and the matching runs after the response, so not even the timing depends on it.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from childguard.registry.matching import Targets
from childguard.registry.models import RemovalRequest
from childguard.web.apidoc import responses
from childguard.web.deps import (
    DbDep,
    SettingsDep,
    check_anon_csrf,
    limit,
    per_ip,
)
from childguard.web.formparse import parse_form, read_body
from childguard.web.intake import (
    RELATIONSHIPS,
    IntakeError,
    RequestIn,
    create_request,
    photo_hash,
)
from childguard.web.render import render
from childguard.web.security import sha256

router = APIRouter()

STATUS_TEXT = {
    "received": "Received: your request is waiting for a reviewer.",
    "under_review": "Under review: a reviewer is working on your request.",
    "removal_scheduled": "Removal decided: it will take effect in the next release.",
    "removed": "Removed",
    "not_found": "Not found: we found nothing to remove for this request.",
}


class TokenOut(BaseModel):
    """The tracking token of a new request, shown once."""
    token: str


class StatusOut(BaseModel):
    """A request's status, when it last changed, and the release that removed it."""
    status: str
    updated_at: datetime
    release: str | None = None


def _schedule(request: Request, request_id: str, targets: Targets) -> None:
    if targets.empty():
        return
    request.app.state.matcher.submit(request_id, targets)


intake_limit = Depends(per_ip("intake", lambda s: s.intake_per_ip))
lookup_limit = Depends(per_ip("lookup", lambda s: s.lookup_per_ip))


@router.post(
    "/api/requests",
    status_code=201,
    response_model=TokenOut,
    dependencies=[intake_limit],
    tags=["requests"],
    summary="Submit a removal request; answers a tracking token",
    responses=responses(400, 413, 422, 429),
)
def api_create_request(
    payload: RequestIn,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
) -> TokenOut:
    """Store a removal request and queue its matching; the answer is the same whatever matches."""
    try:
        pdq = photo_hash(payload.photo_bytes(settings.max_photo_bytes))
    except IntakeError as e:
        # the same 422 body as a schema error: the photo is the one field no schema can check
        err = {"loc": ("body", "photo_base64"), "msg": str(e), "type": "value_error"}
        raise RequestValidationError([err]) from None
    payload.photo_base64 = None  # drop the photo as soon as it is hashed
    token, rid, targets = create_request(db, payload, pdq)
    _schedule(request, rid, targets)
    return TokenOut(token=token)


def _lookup(request: Request, db: DbDep, token: str) -> RemovalRequest:
    if not 16 <= len(token) <= 100:
        raise HTTPException(status_code=404, detail="unknown token")
    settings = request.app.state.settings
    limit(request, "token", sha256(token), settings.lookup_per_token)
    req = db.scalar(select(RemovalRequest).where(RemovalRequest.token_sha256 == sha256(token)))
    if req is None:
        raise HTTPException(status_code=404, detail="unknown token")
    return req


@router.get(
    "/api/requests/{token}",
    response_model=StatusOut,
    response_model_exclude_none=True,
    dependencies=[lookup_limit],
    tags=["requests"],
    summary="Status of a request: only its status and when it last changed",
    responses=responses(404, 429),
)
def api_request_status(token: str, request: Request, db: DbDep) -> StatusOut:
    """A request's status by its tracking token (nothing about matches)."""
    req = _lookup(request, db, token)
    return StatusOut(
        status=req.status,
        updated_at=req.updated_at,
        release=req.release_id if req.status == "removed" else None,
    )


# --- HTML pages ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request) -> Response:
    """The public home page."""
    return render(request, "index.html", {})


@router.get("/request", response_class=HTMLResponse, include_in_schema=False)
def request_form(request: Request) -> Response:
    """The removal request form."""
    return render(request, "request_form.html", {"relationships": RELATIONSHIPS, "form": {}})


def _first(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


@router.post(
    "/request", response_class=HTMLResponse, include_in_schema=False, dependencies=[intake_limit]
)
async def request_submit(request: Request, settings: SettingsDep) -> Response:
    """Take the request form (parsed in memory, photo hashed and dropped) and show the token."""
    from starlette.concurrency import run_in_threadpool

    body = await read_body(request, settings.max_photo_bytes + 256 * 1024)
    fields, files = parse_form(request.headers.get("content-type", ""), body)
    del body
    check_anon_csrf(request, _first(fields, "csrf_token"))
    photo = files.get("photo")
    files.clear()
    form: dict[str, Any] = {
        "urls": _first(fields, "urls"),
        "domains": _first(fields, "domains"),
        "child_name": _first(fields, "child_name"),
        "contact": _first(fields, "contact"),
        "relationship": _first(fields, "relationship"),
        "note": _first(fields, "note"),
    }
    errors: list[str] = []
    try:
        data = RequestIn(
            urls=_lines(form["urls"]),
            domains=_lines(form["domains"]),
            child_name=form["child_name"] or None,
            contact=form["contact"],
            relationship=form["relationship"] or "parent",
            declaration=_first(fields, "declaration") == "yes",
            note=form["note"] or None,
            photo_base64=base64.b64encode(photo).decode("ascii") if photo else None,
        )
        pdq = await run_in_threadpool(photo_hash, photo)
    except ValidationError as e:
        errors = [_plain_error(err) for err in e.errors()]
    except IntakeError as e:
        errors = [str(e)]
    finally:
        photo = None  # the photo is dropped here, hashed or not
    if errors:
        ctx = {"relationships": RELATIONSHIPS, "form": form, "errors": errors}
        return render(request, "request_form.html", ctx, status_code=422)
    data.photo_base64 = None

    def store() -> tuple[str, str, Targets]:
        with request.app.state.sessions() as db:
            return create_request(db, data, pdq)

    token, rid, targets = await run_in_threadpool(store)
    _schedule(request, rid, targets)
    return render(request, "request_done.html", {"token": token}, status_code=201)


def _plain_error(err: Any) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
def status_form(request: Request) -> Response:
    """The status lookup form."""
    return render(request, "status.html", {})


@router.post(
    "/status", response_class=HTMLResponse, include_in_schema=False, dependencies=[lookup_limit]
)
async def status_lookup(request: Request, db: DbDep) -> Response:
    """A request's status by the token posted in the form."""
    form = await request.form()
    token = str(form.get("token") or "").strip()
    check_anon_csrf(request, str(form.get("csrf_token") or ""))
    try:
        req = _lookup(request, db, token)
    except HTTPException as e:
        if e.status_code != 404:
            raise
        return render(request, "status.html", {"error": "unknown token"}, status_code=404)
    ctx = {
        "status": req.status,
        "status_text": STATUS_TEXT[req.status],
        "release": req.release_id if req.status == "removed" else None,
        "updated_at": req.updated_at,
    }
    return render(request, "status.html", ctx)
