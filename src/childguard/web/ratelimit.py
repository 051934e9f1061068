"""In-process token buckets keyed by (bucket name, client IP or token).

One process only: behind several workers each keeps its own buckets (documented limit).
"""

from __future__ import annotations

import threading
import time

from childguard.web.settings import RateLimit

MAX_KEYS = 100_000


class RateLimiter:
    """Token buckets per (bucket name, key), thread-safe, with an injectable clock."""
    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def allow(self, name: str, key: str, limit: RateLimit) -> float:
        """0.0 when allowed (one token taken), else seconds until the next token."""
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            tokens, last = self._buckets.get((name, key), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.per_second)
            if tokens >= 1.0:
                self._buckets[(name, key)] = (tokens - 1.0, now)
                if len(self._buckets) > MAX_KEYS:
                    self._prune(now)
                return 0.0
            self._buckets[(name, key)] = (tokens, now)
            return (1.0 - tokens) / limit.per_second

    def _prune(self, now: float) -> None:
        # Drop the buckets idle longest (they are full again anyway).
        for k, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: MAX_KEYS // 2]:
            del self._buckets[k]
