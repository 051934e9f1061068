"""Request matching off the request path: one worker thread, so a burst of requests can cost
at most one shard scan at a time and never slows the public pages or the reviewers."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from childguard.registry.matching import Targets, match_request
from childguard.registry.models import RemovalRequest

log = logging.getLogger(__name__)


class Matcher:
    """Matches removal requests on a worker thread, off the request path."""
    def __init__(self, sessions: sessionmaker[Session], audit_dir: Path, workers: int = 1) -> None:
        self._sessions = sessions
        self._audit_dir = audit_dir
        self._workers = workers
        self._pool = self._new_pool()
        self._closed = False
        self._lock = threading.Lock()
        self._pending: set[Future[int]] = set()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="cg-match")

    def start(self) -> bool:
        """A worker again after `shutdown` (True if it had been shut down): an app's lifespan
        may run more than once (a test client opened twice), and each run must match."""
        with self._lock:
            if not self._closed:
                return False
            self._pool, self._closed = self._new_pool(), False
            return True

    def submit(self, request_id: str, targets: Targets) -> Future[int]:
        """Queue matching of one request; the future gives the number of tasks queued."""
        fut = self._pool.submit(self._run, request_id, targets)
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._done)
        return fut

    def _done(self, fut: Future[int]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def _run(self, request_id: str, targets: Targets) -> int:
        try:
            return match_request(self._sessions, self._audit_dir, request_id, targets)
        except Exception as e:  # logged by type only: messages may quote data
            log.error("matching request %s failed: %s", request_id, type(e).__name__)
            raise

    def resume(self) -> int:
        """Queue again the requests a previous process accepted but did not finish matching."""
        from childguard.web.intake import targets_of

        with self._sessions() as s:
            reqs = list(
                s.scalars(select(RemovalRequest).where(RemovalRequest.matching_done.is_(False)))
            )
            jobs = [(r.id, targets_of(r)) for r in reqs]
        for rid, targets in jobs:
            self.submit(rid, targets)
        return len(jobs)

    def drain(self, timeout: float = 120) -> None:
        """Wait until every queued match has run (tests, and shutdown)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def shutdown(self) -> None:
        """Stop taking work, cancel what has not started, wait for the rest."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
