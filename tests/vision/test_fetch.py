"""`--fetch`: a local http.server stands in for the web (the tests never leave 127.0.0.1;
the `server` fixture is in conftest.py)."""

from __future__ import annotations

import time

import pytest

from childguard.vision.fetch import USER_AGENT, FetchConfig, Fetcher, FetchError

from vision_helpers import BODY
from vision_helpers import LocalWeb as _Handler


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
