"""HTTP(S) image fetching for `scan --images --fetch`: polite, bounded, and opt-out aware.

Only used when the operator asks for it (`--fetch`). Every request names the tool in its user
agent, has a timeout, waits for the host's rate limit, retries transient failures with
exponential back-off, stops reading past a size cap, and respects the host's opt-outs:
`robots.txt` (urllib.robotparser, fetched once per host) and an `X-Robots-Tag` header with
`noai` or `noimageai`. Every failure is a `FetchError` with a short reason that the stage
turns into a row error (listed in `errors/`, never a clean row). Nothing is written to disk.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from childguard import __version__

USER_AGENT = f"childguard/{__version__} (+image safety audit; honours robots.txt and noai)"
OPT_OUT_TAGS = ("noai", "noimageai")
_RETRY_STATUS = {429, 500, 502, 503, 504}


class FetchError(RuntimeError):
    """An image that could not (or must not) be fetched; the message is the row's reason."""


@dataclass
class FetchConfig:
    """Politeness and safety limits of one fetcher."""

    user_agent: str = USER_AGENT
    timeout_s: float = 10.0
    per_host_interval_s: float = 1.0  # at most one request per host per interval
    retries: int = 2
    backoff_s: float = 0.5  # first retry waits this, then doubles
    max_bytes: int = 20 * 1024 * 1024
    respect_robots: bool = True


@dataclass
class Fetcher:
    """Fetch image bytes over HTTP(S), one instance shared by a stage's worker threads."""

    config: FetchConfig = field(default_factory=FetchConfig)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_slot: dict[str, float] = field(default_factory=dict, repr=False)
    _robots: dict[str, urllib.robotparser.RobotFileParser | None] = field(
        default_factory=dict, repr=False
    )

    def fetch(self, url: str) -> bytes:
        """The body at `url`, or FetchError saying why not (opt-out, size, status, network)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FetchError("not an http(s) URL")
        if self.config.respect_robots and not self._robots_allow(parts.scheme, parts.netloc, url):
            raise FetchError("disallowed by robots.txt")
        delay = self.config.backoff_s
        for attempt in range(self.config.retries + 1):
            self._wait_turn(parts.netloc)
            try:
                return self._get(url)
            except _Transient as e:
                if attempt == self.config.retries:
                    raise FetchError(str(e)) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # internals --------------------------------------------------------------------------------
    def _request(self, url: str) -> urllib.request.Request:
        return urllib.request.Request(
            url, headers={"User-Agent": self.config.user_agent, "Accept": "image/*"}
        )

    def _get(self, url: str) -> bytes:
        try:
            with urllib.request.urlopen(self._request(url), timeout=self.config.timeout_s) as r:
                tags = ",".join(r.headers.get_all("X-Robots-Tag") or []).lower()
                if any(t in tags.replace(" ", ",").split(",") for t in OPT_OUT_TAGS):
                    raise FetchError("opted out (X-Robots-Tag)")
                length = r.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.config.max_bytes:
                    raise FetchError(f"larger than {self.config.max_bytes} bytes")
                body = r.read(self.config.max_bytes + 1)
        except urllib.error.HTTPError as e:
            if e.code in _RETRY_STATUS:
                raise _Transient(f"HTTP {e.code}") from None
            raise FetchError(f"HTTP {e.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise _Transient(f"network error: {type(reason).__name__}") from None
        if len(body) > self.config.max_bytes:
            raise FetchError(f"larger than {self.config.max_bytes} bytes")
        return body

    def _wait_turn(self, host: str) -> None:
        """Sleep until this host's next request slot (one per `per_host_interval_s`)."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(host, 0.0))
            self._next_slot[host] = slot + self.config.per_host_interval_s
        if slot > now:
            time.sleep(slot - now)

    def _robots_allow(self, scheme: str, host: str, url: str) -> bool:
        key = f"{scheme}://{host}"
        with self._lock:
            known = key in self._robots
            rp = self._robots.get(key)
        if not known:
            rp = self._load_robots(key)
            with self._lock:
                self._robots[key] = rp
        return True if rp is None else rp.can_fetch(self.config.user_agent, url)

    def _load_robots(self, base: str) -> urllib.robotparser.RobotFileParser | None:
        """The host's robots rules; None (allow) when it has none (404). A host whose robots.txt
        cannot be read at all (5xx, network) is treated as disallowing, as RFC 9309 asks."""
        rp = urllib.robotparser.RobotFileParser(base + "/robots.txt")
        self._wait_turn(urlsplit(base).netloc)
        try:
            with urllib.request.urlopen(
                self._request(base + "/robots.txt"), timeout=self.config.timeout_s
            ) as r:
                rp.parse(r.read(512 * 1024).decode("utf-8", "replace").splitlines())
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:
                return None
            rp.disallow_all = True
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            rp.disallow_all = True
        return rp


class _Transient(Exception):
    """A failure worth retrying (5xx, 429, network)."""
