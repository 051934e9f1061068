"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from childguard.registry.db import default_db_url, make_engine
from childguard.registry.decisions import load_decisions

from .conftest import PASSWORD, make_client
from .fixtures import make_audit, synthetic_image

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (install it with .ci/browsers.sh)"
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    import uvicorn

    audit = make_audit(tmp_path_factory.mktemp("browser"))
    app = make_client(audit).app
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", audit
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser_ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser_ctx: Any) -> Iterator[Any]:
    browser_ctx.clear_cookies()
    pg = browser_ctx.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    pg.close()


def _login(page: Any, base: str, user: str = "rita") -> None:
    page.goto(f"{base}/review")
    assert "/login" in page.url  # anonymous: sent to sign in
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/review")


def test_request_form_then_status(page: Any, live: tuple[str, Path]) -> None:
    base, _ = live
    page.goto(f"{base}/request")
    page.fill("#urls", "https://example.org/img/maria-clara-1.jpg")
    page.fill("#contact", "guardian@example.org")
    page.select_option("#relationship", "legal_guardian")
    page.set_input_files(
        "#photo", {"name": "ref.png", "mimeType": "image/png", "buffer": synthetic_image(3)}
    )
    page.check("#declaration")
    page.click("#submit")
    token = page.text_content("#token").strip()
    assert len(token) >= 24
    engine = make_engine(default_db_url(live[1]))
    with engine.connect() as conn:  # the browser's multipart upload was hashed, not stored
        kinds = conn.execute(text("select kind from request_targets")).scalars().all()
    engine.dispose()
    assert "pdq" in kinds and "url" in kinds
    page.goto(f"{base}/status")
    page.fill("#token", token)
    page.click("button[type=submit]")
    assert page.get_attribute("#status", "data-status") == "received"


def test_request_form_errors_shown(page: Any, live: tuple[str, Path]) -> None:
    base, _ = live
    page.goto(f"{base}/request")
    page.fill("#contact", "guardian@example.org")
    page.fill("#child_name", "Ana")
    page.click("#submit")  # declaration not ticked
    assert "declaration" in page.text_content(".errors")


def test_login_and_review_decision(page: Any, live: tuple[str, Path]) -> None:
    base, audit = live
    _login(page, base)
    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 3
    assert "identifiable child" in rows.nth(0).text_content()  # highest risk first
    page.click("#queue .task-link >> nth=0")
    page.fill("#note", "confirmed by reviewer")
    page.click("#decide-remove")
    page.wait_for_url(f"{base}/review/tasks/*")
    decided = load_decisions(audit)
    assert (decided["decision"] == "remove").sum() >= 1


def test_xss_payloads_render_as_text(page: Any, live: tuple[str, Path]) -> None:
    base, _ = live
    _login(page, base)
    for tid in (1, 2):
        page.goto(f"{base}/review/tasks/{tid}")
        if page.locator("#reveal").count():
            page.click("#reveal")
            page.wait_for_selector("#revealed")
    page.goto(f"{base}/review/tasks/1")
    page.click("#reveal")
    assert "<script>alert('xss-caption')</script>" in page.text_content("#original-text")
    page.goto(f"{base}/review/tasks/2")
    page.click("#reveal")
    assert '<img src=x onerror="alert(1)">' in page.text_content("#original-text")
    assert page.locator("#revealed img").count() == 0  # no element was injected
    page.goto(f"{base}/review")
    assert page.dialogs == []  # no alert() ever ran


def test_anonymous_browser_cannot_open_review_pages(page: Any, live: tuple[str, Path]) -> None:
    base, _ = live
    for path in ("/review", "/review/tasks/1", "/review/requests", "/review/audit"):
        page.goto(f"{base}{path}")
        assert "/login" in page.url, path
    resp = page.request.get(f"{base}/review/api/tasks")
    assert resp.status == 401
