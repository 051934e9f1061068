"""Reviewer pages and API, all under `/review`.

The router itself depends on a signed-in reviewer, so no route added here can forget it.
Pages show redacted captions and URLs; the original is shown only after a (logged) reveal,
images only blurred, and only where the shard carries the bytes; a picture the images
detector read as a likely minor in unsafe content is never shown at all.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from childguard.redact import redact_url, redact_words
from childguard.registry.audit import recent, record
from childguard.registry.matching import targets_of
from childguard.registry.models import Decision, RemovalRequest, ReviewTask
from childguard.registry.queue import sync_findings
from childguard.registry.review import (
    ReviewError,
    close_not_found,
    decide,
    latest_decisions,
    mark_seen,
)
from childguard.registry.source import SourceError, has_images, load_inputs, read_image, read_row
from childguard.web.apidoc import responses
from childguard.web.deps import (
    AdminDep,
    CsrfDep,
    DbDep,
    Reviewer,
    ReviewerDep,
    SettingsDep,
    require_reviewer,
)
from childguard.web.render import render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/review", dependencies=[Depends(require_reviewer)])

OPEN_STATUSES = ("open", "escalated")


def _may_decide(reviewer: Reviewer, task: ReviewTask) -> None:
    """An escalated row goes to an admin: a reviewer escalates to get a second pair of eyes."""
    if task.status == "escalated" and reviewer.user.role != "admin":
        raise HTTPException(status_code=403, detail="escalated rows are decided by an admin")


# ids and pages past these are no rows (SQLite and PostgreSQL integers are 64-bit; larger
# values overflow in the driver, a 500 instead of a 404)
MAX_ID = 2**63 - 1
MAX_PAGE = 1_000_000


def _task_or_404(db: DbDep, task_id: int) -> ReviewTask:
    if not 1 <= task_id <= MAX_ID:
        raise HTTPException(status_code=404, detail="no such task")
    task = db.get(ReviewTask, task_id)
    if task is None:
        raise HTTPException(status_code=404, detail="no such task")
    return task


def _queue_stmt(status: str) -> Any:
    stmt = select(ReviewTask)
    if status == "open":
        stmt = stmt.where(ReviewTask.status.in_(OPEN_STATUSES))
    elif status != "all":
        stmt = stmt.where(ReviewTask.status == status)
    return stmt.order_by(ReviewTask.risk_rank, ReviewTask.status.desc(), ReviewTask.id)


def _task_json(t: ReviewTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "source": t.source,
        "shard_id": t.shard_id,
        "row_index": t.row_index,
        "url_sha256": t.url_sha256,
        "risk": t.risk,
        "action": t.action,
        "rule": t.rule,
        "match_kind": t.match_kind,
        "status": t.status,
        "reasons": t.reasons or [],
    }


StatusFilter = Literal["open", "escalated", "decided", "all"]


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def queue(
    request: Request,
    reviewer: ReviewerDep,
    db: DbDep,
    settings: SettingsDep,
    status: StatusFilter = "open",
    page: int = 1,
) -> Response:
    """The review queue page, highest risk first, one page at a time."""
    page = min(max(1, page), MAX_PAGE)
    size = settings.page_size
    tasks = list(db.scalars(_queue_stmt(status).limit(size).offset((page - 1) * size)))
    total = db.scalar(select(func.count()).select_from(_queue_stmt(status).subquery())) or 0
    ctx = {
        "tasks": tasks,
        "status": status,
        "page": page,
        "pages": max(1, -(-total // size)),
        "total": total,
    }
    return render(request, "queue.html", ctx, reviewer=reviewer)


def _source_view(request: Request, task: ReviewTask, reveal: bool) -> dict[str, Any]:
    """Redacted caption/URL from the source shard (original too when revealing)."""
    settings = request.app.state.settings
    out: dict[str, Any] = {"source_ok": False, "has_image": False}
    try:
        ref = load_inputs(settings.audit_dir).get(task.shard_id)
        if ref is None:
            return out
        row = read_row(ref, task.row_index)
        out["has_image"] = has_images(ref) and not _minor_unsafe(task)
    except (SourceError, OSError, RuntimeError, ValueError) as e:
        log.warning("source row unavailable for task %s: %s", task.id, type(e).__name__)
        return out
    if row is None:
        return out
    out["source_ok"] = True
    out["redacted_url"] = redact_url(row["url"])
    out["redacted_text"] = redact_words(row["text"] or "", max_len=200)
    if reveal:
        out["original_url"] = row["url"]
        out["original_text"] = row["text"]
    return out


def _task_page(
    request: Request, reviewer: Reviewer, db: DbDep, task: ReviewTask, reveal: bool
) -> Response:
    history = list(
        db.scalars(select(Decision).where(Decision.task_id == task.id).order_by(Decision.id))
    )
    req = db.get(RemovalRequest, task.request_id) if task.request_id else None
    nxt = db.scalar(
        _queue_stmt("open")
        .where(ReviewTask.id != task.id)
        .limit(1)
        .with_only_columns(ReviewTask.id)
    )
    ctx = {
        "task": task,
        "history": history,
        "req": req,
        "revealed": reveal,
        "next_id": nxt,
        **_source_view(request, task, reveal),
    }
    return render(request, "task.html", ctx, reviewer=reviewer)


@router.get("/tasks/{task_id}", response_class=HTMLResponse, include_in_schema=False)
def task_page(request: Request, task_id: int, reviewer: ReviewerDep, db: DbDep) -> Response:
    """One task with its redacted row (the view is audited)."""
    task = _task_or_404(db, task_id)
    record(db, reviewer.actor, "view_task", f"task:{task.id}")
    db.commit()
    return _task_page(request, reviewer, db, task, reveal=False)


@router.post(
    "/tasks/{task_id}/reveal",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[CsrfDep],
)
def task_reveal(request: Request, task_id: int, reviewer: ReviewerDep, db: DbDep) -> Response:
    """One task with the original caption and URL (audited as a reveal)."""
    task = _task_or_404(db, task_id)
    record(
        db,
        reviewer.actor,
        "reveal",
        f"task:{task.id}",
        {"shard_id": task.shard_id, "row_index": task.row_index},
    )
    db.commit()
    return _task_page(request, reviewer, db, task, reveal=True)


def _blur(data: bytes) -> bytes:
    """Downscale and blur heavily, in memory: enough to judge a scene, not to recognise."""
    from PIL import Image, ImageFilter

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((256, 256))
        radius = max(6, max(im.size) // 14)
        out = im.filter(ImageFilter.GaussianBlur(radius))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def _minor_unsafe(task: ReviewTask) -> bool:
    """Did the images detector see a likely minor in unsafe content (`scan --images`)?"""
    return task.rule == "image_minor_unsafe" or any(
        r.get("detector") == "images" and "unsafe" in str(r.get("label") or "")
        for r in task.reasons or []
    )


@router.get("/tasks/{task_id}/image", include_in_schema=False)
def task_image(request: Request, task_id: int, reviewer: ReviewerDep, db: DbDep) -> Response:
    """The row's image, downscaled and blurred in memory (audited)."""
    task = _task_or_404(db, task_id)
    if _minor_unsafe(task):
        # a likely minor in unsafe content is removed at once and never shown, not even blurred
        raise HTTPException(status_code=403, detail="this picture is never shown to reviewers")
    ref = load_inputs(request.app.state.settings.audit_dir).get(task.shard_id)
    data = read_image(ref, task.row_index) if ref is not None else None
    if data is None:
        raise HTTPException(status_code=404, detail="no image bytes for this row")
    try:
        blurred = _blur(data)
    except Exception:
        raise HTTPException(status_code=422, detail="the image cannot be decoded") from None
    record(db, reviewer.actor, "view_image_blurred", f"task:{task.id}")
    db.commit()
    return Response(blurred, media_type="image/jpeg")


@router.post("/tasks/{task_id}/decide", include_in_schema=False, dependencies=[CsrfDep])
def task_decide(
    task_id: int,
    reviewer: ReviewerDep,
    db: DbDep,
    decision: str = Form(...),
    note: str = Form(""),
) -> Response:
    """Record a decision on a task from the form, then go to the next open one."""
    task = _task_or_404(db, task_id)
    _may_decide(reviewer, task)
    try:
        decide(db, task, reviewer.user, decision, note)
    except ReviewError as e:
        raise HTTPException(status_code=422, detail=str(e)) from None
    db.commit()
    nxt = db.scalar(_queue_stmt("open").limit(1).with_only_columns(ReviewTask.id))
    return RedirectResponse(f"/review/tasks/{nxt}" if nxt else "/review", status_code=303)


@router.get("/requests", response_class=HTMLResponse, include_in_schema=False)
def requests_page(request: Request, reviewer: ReviewerDep, db: DbDep) -> Response:
    """Every removal request, newest first."""
    reqs = list(db.scalars(select(RemovalRequest).order_by(RemovalRequest.created_at.desc())))
    return render(request, "requests.html", {"requests": reqs}, reviewer=reviewer)


def _request_or_404(db: DbDep, request_id: str) -> RemovalRequest:
    req = db.get(RemovalRequest, request_id)
    if req is None:
        raise HTTPException(status_code=404, detail="no such request")
    return req


@router.get("/requests/{request_id}", response_class=HTMLResponse, include_in_schema=False)
def request_page(request: Request, request_id: str, reviewer: ReviewerDep, db: DbDep) -> Response:
    """One request: its redacted targets and the tasks it matched (the view is audited)."""
    req = _request_or_404(db, request_id)
    mark_seen(db, req)
    record(db, reviewer.actor, "view_request", f"request:{req.id}")
    db.commit()
    tasks = list(
        db.scalars(
            select(ReviewTask).where(ReviewTask.request_id == req.id).order_by(ReviewTask.id)
        )
    )
    latest = latest_decisions(db, [t.id for t in tasks])
    targets = [
        {
            "kind": t.kind,
            "shown": redact_url(t.value)
            if t.kind == "url"
            else t.value
            if t.kind == "domain"
            else (req.child_name_initials or "")
            if t.kind == "name"
            else "PDQ " + t.value[:8] + "…",
        }
        for t in req.targets
    ]
    ctx = {"req": req, "tasks": tasks, "latest": latest, "targets": targets}
    return render(request, "request_detail.html", ctx, reviewer=reviewer)


@router.post("/requests/{request_id}/close", include_in_schema=False, dependencies=[CsrfDep])
def request_close(
    request_id: str, reviewer: ReviewerDep, db: DbDep, note: str = Form("")
) -> Response:
    """Close a request as not found."""
    req = _request_or_404(db, request_id)
    try:
        close_not_found(db, req, reviewer.user, note)
    except ReviewError as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    db.commit()
    return RedirectResponse(f"/review/requests/{req.id}", status_code=303)


@router.post("/requests/{request_id}/rematch", include_in_schema=False, dependencies=[CsrfDep])
def request_rematch(
    request: Request,
    request_id: str,
    reviewer: ReviewerDep,
    db: DbDep,
) -> Response:
    """Match a request again (audited)."""
    req = _request_or_404(db, request_id)
    record(db, reviewer.actor, "rematch", f"request:{req.id}")
    req.matching_done = False  # the next batch takes it again (tasks already queued stay)
    db.commit()
    request.app.state.matcher.submit(req.id, targets_of(req))
    return RedirectResponse(f"/review/requests/{req.id}", status_code=303)


@router.post("/sync", include_in_schema=False, dependencies=[CsrfDep])
def sync(request: Request, reviewer: ReviewerDep, db: DbDep) -> Response:
    """Import new findings from the audit into the queue."""
    added = sync_findings(db, request.app.state.settings.audit_dir)
    record(db, reviewer.actor, "sync_findings", None, {"added": added})
    db.commit()
    return RedirectResponse("/review", status_code=303)


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, admin: AdminDep, db: DbDep, page: int = 1) -> Response:
    """The audit log, newest first (admins only)."""
    page = max(1, page)
    events = recent(db, limit=200, offset=(page - 1) * 200)
    return render(request, "audit.html", {"events": events, "page": page}, reviewer=admin)


# --- JSON API --------------------------------------------------------------------------------


class DecisionIn(BaseModel):
    """A reviewer's decision on a task, with an optional note."""
    model_config = ConfigDict(extra="forbid")
    decision: Literal["remove", "keep", "escalate"]
    note: str | None = Field(default=None, max_length=2000)


@router.get(
    "/api/tasks",
    tags=["review"],
    summary="The review queue, highest risk first",
    responses=responses(401, 422),
)
def api_tasks(
    reviewer: ReviewerDep,
    db: DbDep,
    settings: SettingsDep,
    status: StatusFilter = "open",
    page: int = 1,
) -> list[dict[str, Any]]:
    """One page of the review queue as JSON."""
    size = settings.page_size
    page = min(max(1, page), MAX_PAGE)  # as the page does: past the end is an empty list
    tasks = db.scalars(_queue_stmt(status).limit(size).offset((page - 1) * size))
    return [_task_json(t) for t in tasks]


@router.post(
    "/api/tasks/{task_id}/decision",
    tags=["review"],
    summary="Decide a task (header X-CSRF-Token: the session's token)",
    dependencies=[CsrfDep],
    responses=responses(400, 401, 403, 404, 422),
)
def api_decide(task_id: int, body: DecisionIn, reviewer: ReviewerDep, db: DbDep) -> dict[str, Any]:
    """Record a decision on a task; answers the decision's id."""
    task = _task_or_404(db, task_id)
    _may_decide(reviewer, task)
    d = decide(db, task, reviewer.user, body.decision, body.note)
    db.commit()
    return {"task_id": task.id, "decision": d.decision, "decision_id": d.id}


@router.get(
    "/api/session",
    tags=["review"],
    summary="Who is signed in, and the CSRF token",
    responses=responses(401),
)
def api_session(reviewer: ReviewerDep) -> dict[str, Any]:
    """The signed-in reviewer's name, role and CSRF token."""
    return {"username": reviewer.user.username, "role": reviewer.user.role, "csrf": reviewer.csrf}
