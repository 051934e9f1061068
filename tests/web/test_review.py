"""Reviewer side: authz on every /review route, escaping, logged reveal, decisions, statuses."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from childguard.registry.decisions import load_decisions
from childguard.registry.models import AuditEvent, ReviewTask
from childguard.registry.review import record_release
from childguard.web.reviewer import router as reviewer_router

from .conftest import PASSWORD, csrf_of, drain, login, make_client
from .fixtures import SHARD_ID, XSS_CAPTION, XSS_HTML

BASE = {"contact": "guardian@example.org", "relationship": "parent", "declaration": True}


def _all_routes(app: object) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI old and new)."""
    out = []
    for r in app.routes:  # type: ignore[attr-defined]
        if hasattr(r, "effective_route_contexts"):
            for ctx in r.effective_route_contexts():
                out.append((ctx.path, set(getattr(ctx.original_route, "methods", None) or ())))
        else:
            out.append((getattr(r, "path", ""), set(getattr(r, "methods", None) or ())))
    return out


def review_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for path, methods in _all_routes(client.app):
        if path.startswith("/review"):
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            out.extend((m, concrete) for m in sorted(methods - {"HEAD"}))
    return out


def test_every_review_route_refuses_anonymous_clients(client: TestClient) -> None:
    routes = review_routes(client)
    # the enumeration itself works: it finds every route the reviewer router declares
    assert len(routes) >= len(reviewer_router.routes) >= 12
    for method, path in routes:
        for accept in ("text/html", "application/json"):
            r = client.request(method, path, headers={"accept": accept})
            assert r.status_code in (401, 403, 303), (method, path, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login")
            assert "Maria" not in r.text and "evidence" not in r.text


def test_signed_out_session_is_refused(client: TestClient) -> None:
    csrf = login(client)
    assert client.get("/review").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/review/api/tasks").status_code == 401


def test_login_needs_password_and_csrf(client: TestClient) -> None:
    page = client.get("/login")
    bad = client.post(
        "/login",
        data={"username": "rita", "password": "nope", "csrf_token": csrf_of(page.text)},
    )
    assert bad.status_code == 401 and "cg_session" not in bad.cookies
    no_csrf = client.post("/login", data={"username": "rita", "password": PASSWORD})
    assert no_csrf.status_code == 403
    login(client)
    cookie = [h for h in client.get("/login").headers.get_list("set-cookie")]
    assert all("HttpOnly" in c and "SameSite=strict" in c for c in cookie)


def test_session_cookie_flags(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": "rita", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    set_cookie = r.headers["set-cookie"]
    assert "cg_session=" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie


def test_queue_is_highest_risk_first_and_skips_kept_rows(client: TestClient) -> None:
    login(client)
    tasks = client.get("/review/api/tasks").json()
    assert [t["row_index"] for t in tasks] == [0, 1, 3]  # row 4 had action "keep"
    assert tasks[0]["risk"] == "identifiable_child"


def test_pages_escape_captions_urls_and_evidence(client: TestClient) -> None:
    csrf = login(client)
    pages = [client.get("/review").text]
    for tid in (1, 2):
        pages.append(client.get(f"/review/tasks/{tid}").text)
        pages.append(client.post(f"/review/tasks/{tid}/reveal", data={"csrf_token": csrf}).text)
    html = "\n".join(pages)
    for raw in ("<script>alert", "<img src=x", 'onerror="alert', "<b>J.</b>", "<b>Joao</b>"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(&#39;xss-caption&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&lt;b&gt;J.&lt;/b&gt; birthday 5" in html  # redacted evidence, escaped too


def test_redacted_by_default_original_only_on_logged_reveal(client: TestClient) -> None:
    csrf = login(client)
    page = client.get("/review/tasks/1").text
    assert "Maria" not in page and "maria-clara" not in page
    assert "M. C. 7" in page
    assert client.post("/review/tasks/1/reveal").status_code == 403  # no CSRF token
    shown = client.post("/review/tasks/1/reveal", data={"csrf_token": csrf}).text
    assert "Maria Clara 7 anos" in shown
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        events = [(e.actor, e.action, e.target) for e in s.scalars(select(AuditEvent))]
    assert ("user:rita", "reveal", "task:1") in events
    assert ("user:rita", "view_task", "task:1") in events


def test_image_is_blurred_and_only_where_bytes_exist(client: TestClient) -> None:
    login(client)
    r = client.get("/review/tasks/1/image")  # row 0 carries an image
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as im:
        assert max(im.size) <= 256
    assert client.get("/review/tasks/2/image").status_code == 404  # row 1 has none


def test_image_tag_absent_when_shard_has_no_images(tmp_path: Path) -> None:
    from .fixtures import make_audit

    audit = make_audit(tmp_path, with_images=False)
    with make_client(audit) as client:
        login(client)
        assert "<img" not in client.get("/review/tasks/1").text


def test_decisions_need_csrf_are_logged_and_reach_release(client: TestClient, audit: Path) -> None:
    csrf = login(client)
    assert client.post("/review/tasks/1/decide", data={"decision": "remove"}).status_code == 403
    r = client.post(
        "/review/tasks/1/decide",
        data={"decision": "remove", "note": "<i>clearly</i>", "csrf_token": csrf},
    )
    assert r.status_code == 303 and r.headers["location"] == "/review/tasks/2"
    assert "&lt;i&gt;clearly&lt;/i&gt;" in client.get("/review/tasks/1").text
    r = client.post(
        "/review/api/tasks/2/decision",
        json={"decision": "keep"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 200
    bad = client.post(
        "/review/api/tasks/3/decision", json={"decision": "delete"}, headers={"x-csrf-token": csrf}
    )
    assert bad.status_code == 422
    df = load_decisions(audit)
    got = {(r["shard_id"], r["row_index"]): r["decision"] for r in df.iter_rows(named=True)}
    assert got == {(SHARD_ID, 0): "remove", (SHARD_ID, 1): "keep"}
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert actions.count("decide") == 2


def test_request_lifecycle_seen_by_the_requester(client: TestClient, audit: Path) -> None:
    token = client.post(
        "/api/requests", json={**BASE, "urls": ["https://example.org/img/maria-clara-1.jpg"]}
    ).json()["token"]
    miss = client.post("/api/requests", json={**BASE, "domains": ["nowhere.test"]}).json()["token"]

    def status(t: str) -> dict[str, str]:
        return client.get(f"/api/requests/{t}").json()

    drain(client)
    assert status(token)["status"] == status(miss)["status"] == "received"
    csrf = login(client)
    reqs = client.get("/review/requests").text
    ids = re.findall(r'href="/review/requests/([0-9a-f-]{36})"', reqs)
    assert len(ids) == 2
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        task = s.scalar(select(ReviewTask).where(ReviewTask.source == "request"))
        assert task is not None
        hit_id, task_id = task.request_id, task.id
    miss_id = next(i for i in ids if i != hit_id)
    client.get(f"/review/requests/{hit_id}")
    assert status(token)["status"] == "under_review"
    client.post(f"/review/tasks/{task_id}/decide", data={"decision": "remove", "csrf_token": csrf})
    assert status(token)["status"] == "removal_scheduled"
    assert record_release(audit, "r-2026-12", [str(hit_id)]) == 1
    assert status(token) == {
        "status": "removed",
        "updated_at": status(token)["updated_at"],
        "release": "r-2026-12",
    }
    # the request that matched nothing stays "received" until a reviewer closes it
    assert status(miss)["status"] == "received"
    client.post(f"/review/requests/{miss_id}/close", data={"csrf_token": csrf})
    assert status(miss)["status"] == "not_found"


def test_audit_page_is_for_admins(client: TestClient) -> None:
    login(client, "rita")
    assert client.get("/review/audit").status_code == 403
    client.cookies.clear()
    login(client, "ada")
    page = client.get("/review/audit")
    assert page.status_code == 200 and "login" in page.text


def test_logs_carry_no_caption_name_or_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = client.post(
        "/api/requests", json={**BASE, "child_name": "Maria Clara", "urls": ["https://a.org/x"]}
    ).json()["token"]
    client.get(f"/api/requests/{token}")
    csrf = login(client)
    client.post("/review/tasks/1/reveal", data={"csrf_token": csrf})
    # the server's records (httpx logs the test client's own requests)
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "/api/requests/{token}" in text  # the route template is logged
    for secret in (token, "Maria", "maria", XSS_CAPTION[:20], XSS_HTML[:20], "guardian@"):
        assert secret not in text


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_escalated_rows_are_decided_by_an_admin(client: TestClient) -> None:
    csrf = login(client, "rita")
    client.post("/review/tasks/1/decide", data={"decision": "escalate", "csrf_token": csrf})
    assert 'id="escalated-note"' in client.get("/review/tasks/1").text
    r = client.post("/review/tasks/1/decide", data={"decision": "remove", "csrf_token": csrf})
    assert r.status_code == 403
    client.cookies.clear()
    csrf = login(client, "ada")
    r = client.post("/review/tasks/1/decide", data={"decision": "remove", "csrf_token": csrf})
    assert r.status_code == 303


def test_oversized_bodies_are_refused_before_parsing(client: TestClient) -> None:
    big = b"x" * (client.app.state.settings.max_photo_bytes * 2)  # type: ignore[attr-defined]
    r = client.post("/status", content=big, headers={"content-type": "multipart/form-data"})
    assert r.status_code == 413
    r = client.post("/login", files={"f": ("a.bin", big)})
    assert r.status_code == 413


def test_out_of_range_integers_are_4xx_not_500(client: TestClient) -> None:
    """Huge ids and pages overflow the database driver's 64-bit integers (issue 11, item 8)."""
    login(client, "rita")
    for path in (
        "/review?page=9223372036854775807",
        "/review?page=99999999999999999999999",
        "/review/tasks/9223372036854775808",
        "/review/tasks/99999999999999999999999999/reveal",
        "/review/tasks/-1",
    ):
        r = client.get(path)
        assert 200 <= r.status_code < 500 and r.status_code != 500, (path, r.status_code)


def test_a_chunked_oversized_body_is_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_photo_bytes  # type: ignore[attr-defined]

    def chunks():  # no Content-Length: the cap is enforced on the bytes that arrive
        for _ in range(3):
            yield b"x" * limit

    r = client.post(
        "/status", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413
