"""`--fetch`: a local http.server stands in for the web (the tests never leave 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from childguard.vision.fetch import USER_AGENT, FetchConfig, Fetcher, FetchError

BODY = b"\xff\xd8fake-jpeg-bytes"


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}
    agents: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        path = self.path
        type(self).hits[path] = type(self).hits.get(path, 0) + 1
        type(self).agents.append(self.headers.get("User-Agent", ""))
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path == "/ok.jpg":
            return self._send(200, BODY)
        if path == "/noai.jpg":
            return self._send(200, BODY, extra={"X-Robots-Tag": "noimageai, nofollow"})
        if path == "/big.jpg":
            return self._send(200, b"x" * 5000)
        if path == "/flaky.jpg":  # fails twice, then works: retried with back-off
            if type(self).hits[path] <= 2:
                return self._send(503, b"busy")
            return self._send(200, BODY)
        if path == "/down.jpg":
            return self._send(503, b"busy")
        return self._send(404, b"no")

    def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", extra=None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    _Handler.hits, _Handler.agents = {}, []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _fetcher(**kw) -> Fetcher:
    base = {"per_host_interval_s": 0.0, "backoff_s": 0.01, "max_bytes": 1000, "timeout_s": 5}
    return Fetcher(FetchConfig(**{**base, **kw}))


def test_fetches_with_a_named_user_agent(server) -> None:
    assert _fetcher().fetch(f"{server}/ok.jpg") == BODY
    assert set(_Handler.agents) == {USER_AGENT} and "childguard" in USER_AGENT
    assert _Handler.hits["/robots.txt"] == 1


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/private/a.jpg", "disallowed by robots.txt"),
        ("/noai.jpg", "opted out (X-Robots-Tag)"),
        ("/big.jpg", "larger than 1000 bytes"),
        ("/missing.jpg", "HTTP 404"),
        ("/down.jpg", "HTTP 503"),
    ],
)
def test_refusals_and_failures_are_errors(server, path, reason) -> None:
    with pytest.raises(FetchError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        _fetcher().fetch(server + path)
    if path == "/private/a.jpg":
        assert path not in _Handler.hits  # robots.txt is read before the picture is asked for


def test_transient_failures_are_retried(server) -> None:
    assert _fetcher(retries=2).fetch(f"{server}/flaky.jpg") == BODY
    assert _Handler.hits["/flaky.jpg"] == 3
    with pytest.raises(FetchError, match="HTTP 503"):
        _fetcher(retries=1).fetch(f"{server}/down.jpg")
    assert _Handler.hits["/down.jpg"] == 2


def test_robots_txt_is_read_once_per_host(server) -> None:
    f = _fetcher()
    for _ in range(3):
        f.fetch(f"{server}/ok.jpg")
    assert _Handler.hits["/robots.txt"] == 1 and _Handler.hits["/ok.jpg"] == 3


def test_per_host_rate_limit_spaces_request_slots(server) -> None:
    f = _fetcher(per_host_interval_s=0.05)
    t0 = time.monotonic()
    for _ in range(3):
        f.fetch(f"{server}/ok.jpg")
    host = server.removeprefix("http://")
    # robots.txt + 3 pictures took four slots, each one interval after the last
    assert f._next_slot[host] >= t0 + 4 * 0.05


def test_only_http_urls(server) -> None:
    with pytest.raises(FetchError, match="not an http"):
        _fetcher().fetch("file:///etc/passwd")


def test_unreachable_robots_means_disallowed() -> None:
    # a port nothing listens on: robots.txt cannot be read, so nothing is fetched
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(FetchError, match="robots"):
        _fetcher(timeout_s=1).fetch(f"http://127.0.0.1:{port}/a.jpg")
