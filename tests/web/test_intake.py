"""Public intake: token, status only, validation, matching into tasks, photo never on disk."""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from childguard.registry.models import RemovalRequest, RequestTarget, ReviewTask

from .conftest import csrf_of, drain, make_client
from .fixtures import synthetic_image

BASE = {"contact": "guardian@example.org", "relationship": "parent", "declaration": True}


def _tasks(client: TestClient, token_req_id: str | None = None) -> list[ReviewTask]:
    drain(client)
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        stmt = select(ReviewTask).where(ReviewTask.source == "request")
        if token_req_id:
            stmt = stmt.where(ReviewTask.request_id == token_req_id)
        return list(s.scalars(stmt.order_by(ReviewTask.row_index)))


def _only_request_id(client: TestClient) -> str:
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        ids = list(s.scalars(select(RemovalRequest.id)))
    assert len(ids) == 1
    return ids[0]


def test_request_answers_token_and_status_only(client: TestClient) -> None:
    r = client.post("/api/requests", json={**BASE, "urls": ["https://example.org/x.jpg"]})
    assert r.status_code == 201
    assert set(r.json()) == {"token"}
    token = r.json()["token"]
    s = client.get(f"/api/requests/{token}")
    assert s.status_code == 200
    assert set(s.json()) == {"status", "updated_at"}
    assert s.json()["status"] == "received"
    assert client.get("/api/requests/" + "x" * 32).status_code == 404


def test_status_does_not_tell_whether_anything_matched(client: TestClient) -> None:
    hit = client.post(
        "/api/requests", json={**BASE, "urls": ["https://example.org/img/maria-clara-1.jpg"]}
    ).json()["token"]
    miss = client.post(
        "/api/requests", json={**BASE, "urls": ["https://nowhere.test/none.jpg"]}
    ).json()["token"]
    a, b = client.get(f"/api/requests/{hit}").json(), client.get(f"/api/requests/{miss}").json()
    assert a["status"] == b["status"] == "received"
    assert set(a) == set(b)
    # the hit did produce a task for reviewers
    assert len(_tasks(client)) == 1


@pytest.mark.parametrize(
    ("payload", "field", "msg"),
    [
        ({**BASE, "declaration": False, "urls": ["https://a.org/x"]}, "declaration", "declaration"),
        ({**BASE, "urls": ["ftp://a.org/x"]}, "urls", "http"),
        ({**BASE, "urls": ["not a url"]}, "urls", "web address"),
        ({**BASE, "domains": ["exa mple"]}, "domains", "domain"),
        ({**BASE, "contact": "nobody", "urls": ["https://a.org/x"]}, "contact", "e-mail"),
        (BASE, "body", "at least one"),
        ({**BASE, "urls": ["https://a.org/x"], "extra": 1}, "extra", "not permitted"),
        ({**BASE, "photo_base64": "***"}, "photo", "base64"),
    ],
)
def test_validation_errors_are_clear_and_do_not_echo_input(
    client: TestClient, payload: dict[str, object], field: str, msg: str
) -> None:
    if field not in ("body", "photo"):
        payload = {**payload, "child_name": "Zefirina Quintal"}
    r = client.post("/api/requests", json=payload)
    assert r.status_code == 422
    body = r.text
    assert field in body and msg in body.lower()
    assert "Zefirina" not in body


def test_matching_by_url_domain_and_name(client: TestClient) -> None:
    r = client.post(
        "/api/requests",
        json={**BASE, "urls": ["HTTPS://Example.org:443/img/maria-clara-1.jpg#top"]},
    )
    assert r.status_code == 201
    rid = _only_request_id(client)
    assert [(t.row_index, t.match_kind) for t in _tasks(client, rid)] == [(0, "url")]
    assert _tasks(client, rid)[0].risk == "identifiable_child"  # joined with the findings

    client.post("/api/requests", json={**BASE, "domains": ["example.org"]})
    client.post("/api/requests", json={**BASE, "child_name": "ANA  Sófia"})
    got = {(t.row_index, t.match_kind) for t in _tasks(client)}
    # example.org and www.example.org, not shop.example.com; the name in a caption
    assert got == {(0, "url"), (0, "domain"), (4, "domain"), (3, "name")}


def test_name_in_url_slug_matches(client: TestClient) -> None:
    client.post("/api/requests", json={**BASE, "child_name": "maria clara"})
    assert {t.row_index for t in _tasks(client)} == {0}


def test_photo_matches_by_pdq_and_is_never_stored(client: TestClient, audit: Path) -> None:
    photo = synthetic_image(3)  # the image of row 3, re-encoded as JPEG
    with Image.open(io.BytesIO(photo)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=90)
    r = client.post(
        "/api/requests",
        json={**BASE, "photo_base64": base64.b64encode(buf.getvalue()).decode()},
    )
    assert r.status_code == 201
    assert [(t.row_index, t.match_kind) for t in _tasks(client)] == [(3, "pdq")]
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        kinds = [(t.kind, len(t.value)) for t in s.scalars(select(RequestTarget))]
    assert kinds == [("pdq", 64)]  # a 256-bit hash, not the photo


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_form_photo_never_touches_disk(
    audit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A photo over Starlette's 1 MiB in-memory spool limit, which would go to a temp file.
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 255, (700, 700, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    photo = buf.getvalue()
    assert len(photo) > 1024 * 1024
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    with make_client(audit) as client:
        before = _files(audit)
        page = client.get("/request")
        r = client.post(
            "/request",
            data={
                "csrf_token": csrf_of(page.text),
                "contact": "guardian@example.org",
                "relationship": "parent",
                "declaration": "yes",
            },
            files={"photo": ("child.png", photo, "image/png")},
        )
        assert r.status_code == 201, r.text
        assert 'id="token"' in r.text
    assert not _files(tmp), "something was written to the temp dir"
    new = {p.name for p in _files(audit) - before}
    assert new <= {"registry.sqlite-wal", "registry.sqlite-shm", "registry.sqlite-journal"}
    marker = photo[5000:5064]
    for p in _files(audit):
        assert marker not in p.read_bytes(), f"photo bytes found in {p}"


def test_form_requires_csrf_and_reports_errors(client: TestClient) -> None:
    r = client.post(
        "/request",
        data={"contact": "guardian@example.org", "relationship": "parent", "urls": "a.org/x"},
        files={"photo": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 403
    page = client.get("/request")
    r = client.post(
        "/request",
        data={"csrf_token": csrf_of(page.text), "contact": "x", "child_name": "<b>Ana</b>"},
        files={"photo": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 422
    assert "declaration" in r.text and "contact" in r.text
    assert "<b>Ana</b>" not in r.text and "&lt;b&gt;Ana&lt;/b&gt;" in r.text


def test_rate_limits_per_ip_and_per_token(audit: Path) -> None:
    with make_client(audit, rate_limit=True) as client:
        codes = [
            client.post("/api/requests", json={**BASE, "urls": ["https://a.org/x"]}).status_code
            for _ in range(6)
        ]
        assert codes == [201] * 5 + [429]
        r = client.post("/api/requests", json={**BASE, "urls": ["https://a.org/x"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    with make_client(audit, rate_limit=True) as client:
        token = client.post("/api/requests", json={**BASE, "urls": ["https://a.org/x"]}).json()[
            "token"
        ]
        codes = [client.get(f"/api/requests/{token}").status_code for _ in range(8)]
        assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/requests" in spec["paths"]
    assert "/api/requests/{token}" in spec["paths"]


def test_photo_matches_images_in_a_tar_beside_the_shard(tmp_path: Path) -> None:
    from .conftest import login
    from .fixtures import make_img2dataset_audit

    audit = make_img2dataset_audit(tmp_path)
    with make_client(audit) as client:
        photo = base64.b64encode(synthetic_image(11)).decode()  # the image of row 1
        r = client.post("/api/requests", json={**BASE, "photo_base64": photo})
        assert r.status_code == 201
        assert [(t.row_index, t.match_kind) for t in _tasks(client)] == [(1, "pdq")]
        login(client)
        img = client.get("/review/tasks/1/image")  # the scan's task on row 2, from the tar
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"


def test_flat_or_broken_photo(client: TestClient) -> None:
    flat = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 200, 200)).save(flat, format="PNG")
    r = client.post(
        "/api/requests", json={**BASE, "photo_base64": base64.b64encode(flat.getvalue()).decode()}
    )
    assert r.status_code == 201  # accepted, but a flat picture gives no usable hash
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        assert list(s.scalars(select(RequestTarget))) == []
    bad = client.post(
        "/api/requests", json={**BASE, "photo_base64": base64.b64encode(b"not an image").decode()}
    )
    assert bad.status_code == 422 and "not an image" in bad.text


def test_huge_matches_are_capped_and_counted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from childguard.registry import matching
    from childguard.registry.models import AuditEvent

    monkeypatch.setattr(matching, "MAX_TASKS_PER_REQUEST", 1)
    client.post("/api/requests", json={**BASE, "domains": ["example.org"]})
    assert len(_tasks(client)) == 1
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        req = s.scalar(select(RemovalRequest))
        assert req is not None and req.matched == 2 and req.matching_done
        capped = s.scalars(select(AuditEvent).where(AuditEvent.action == "match_capped")).all()
        assert [e.detail for e in capped] == [{"matched": 2, "queued": 1}]


def test_folder_address_matches_images_under_it(client: TestClient) -> None:
    client.post(
        "/api/requests",
        json={**BASE, "urls": ["https://example.org/img", "https://example.org/blog/post.html"]},
    )
    # row 0 lives under /img/; the .html page matches only itself (its images live elsewhere)
    assert [(t.row_index, t.match_kind) for t in _tasks(client)] == [(0, "page")]
