"""Request matching off the request path, in batches: requests wait until `batch_size` are
pending or the oldest has waited `batch_seconds`, then one job (`registry.match_job`) matches
all of them with one read of each shard. One worker thread, so matching never slows the
public pages or the reviewers, and the status a requester sees never depends on it."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from childguard.registry.match_job import JobSummary, pending_request_ids, run_pending
from childguard.registry.matching import Targets

log = logging.getLogger(__name__)


class Matcher:
    """Collects submitted requests and matches them together (by count or by time)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit_dir: Path,
        workers: int = 1,
        batch_size: int = 100,
        batch_seconds: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._audit_dir = audit_dir
        self._workers = workers
        self._batch_size = max(1, batch_size)
        self._batch_seconds = batch_seconds
        self._pool = self._new_pool()
        self._closed = False
        self._lock = threading.Lock()
        self._pending: set[Future[JobSummary]] = set()
        self._waiting = 0
        self._timer: threading.Timer | None = None

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="cg-match")

    def start(self) -> bool:
        """A worker again after `shutdown` (True if it had been shut down): an app's lifespan
        may run more than once (a test client opened twice), and each run must match."""
        with self._lock:
            if not self._closed:
                return False
            self._pool, self._closed = self._new_pool(), False
            return True

    def submit(self, request_id: str, targets: Targets) -> None:
        """Note a request to match (its targets are read back from the registry); the batch
        runs when it is full or when the oldest waiting request has waited long enough."""
        with self._lock:
            self._waiting += 1
            if self._waiting >= self._batch_size:
                self._flush_locked()
            elif self._timer is None and not self._closed:
                self._timer = threading.Timer(self._batch_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Match everything pending now."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting = 0
        if self._closed:
            return
        fut = self._pool.submit(self._run)
        self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[JobSummary]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def _run(self) -> JobSummary:
        try:
            return run_pending(
                self._sessions, self._audit_dir, batch_size=self._batch_size, workers=self._workers
            )
        except Exception as e:  # logged by type only: messages may quote data
            log.error("batch matching failed: %s", type(e).__name__)
            raise

    def resume(self) -> int:
        """Match the requests a previous process accepted but did not finish matching."""
        n = len(pending_request_ids(self._sessions))
        if n:
            self.flush()
        return n

    def drain(self, timeout: float = 120) -> None:
        """Match what is waiting now and wait until every batch has run (tests, shutdown)."""
        self.flush()
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def shutdown(self) -> None:
        """Stop the timer and the worker (a batch under way finishes; the rest resumes at
        the next start, from the registry)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._pool.shutdown(wait=True, cancel_futures=True)
