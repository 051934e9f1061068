"""The local executor: in this process (one worker), or a pool of `spawn` processes.

- `spawn`, not fork: Polars' and Arrow's thread pools do not survive a fork.
- Threads: each worker gets `threads_per_worker(workers)` Polars threads (set in the
  environment the workers start with, before they import Polars) and as many Arrow threads.
- Start cost: with `workers` = N the caller is one of the N (it runs jobs between
  collecting results) and N - 1 processes are spawned; they are started, and import the
  package, while the caller still prepares (`start()`), without importing the caller's
  `__main__` again; the payload reaches each worker once (cached by digest).
- A bounded number of jobs in flight (4 per worker) keeps the caller's memory flat.
- Retries: a worker that dies breaks the pool; the pool is rebuilt and the jobs that were in
  flight run again one at a time (so a death names its job), each job at most
  `RetryPolicy.worker_deaths` times more.
- Clean exit: workers ignore Ctrl-C (the caller decides), die with the caller (Linux parent
  death signal), and on any exception, Ctrl-C or early close they are terminated and reaped,
  with multiprocessing's resource tracker: nothing is left in the process group.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from childguard.executors.base import (
    DEFAULT_RETRY,
    Executor,
    RetryPolicy,
    Setup,
    Step,
    WorkerDied,
    call_job,
    rebuild_error,
    threads_per_worker,
)

# a caller may start the pool before it knows how many jobs there are (`start()` without
# `jobs`): worth it for a few workers; more would import for nothing on a small input
EARLY_START_MAX = 4

# modules a worker imports while it waits for its first job (the caller's own imports)
WARM_IMPORTS = ("polars", "pyarrow", "pyarrow.parquet", "childguard.engine.tasks")

# worker process: payload digest -> state built by setup (one entry: one run at a time)
_STATE: dict[str, Any] = {}


def _worker_init(
    threads: int, warm: tuple[str, ...], key: str, blob: bytes | None, setup: Setup | None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the caller stops the pool
    _die_with_parent()
    import importlib

    with contextlib.suppress(ImportError):
        import pyarrow

        pyarrow.set_cpu_count(threads)
    for mod in warm:
        with contextlib.suppress(ImportError):
            importlib.import_module(mod)
    if blob is not None:
        _install(key, blob, setup)  # an error here is raised again at the first job


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the process that started it dies (even by kill -9)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _install(key: str, blob: bytes, setup: Setup | None) -> tuple[bool, Any]:
    """Build this worker's state from the payload once; (True, None) or the error as data."""
    if key in _STATE:
        return True, None
    try:
        payload = pickle.loads(blob)
        state = setup(payload) if setup is not None else payload
    except Exception as e:
        return False, (type(e), str(e), traceback.format_exc())
    _STATE.clear()
    _STATE[key] = state
    # word lists, automata and models live as long as the worker: keep the cyclic GC from
    # re-scanning them at every collection (about 3% of a scan's time)
    gc.freeze()
    return True, None


def _worker_call(
    fn: Step, key: str, blob: bytes | None, setup: Setup | None, job: tuple
) -> tuple[bool, Any]:
    if key not in _STATE:
        if blob is None:
            return False, (RuntimeError, "worker started without its payload", "")
        ok, err = _install(key, blob, setup)
        if not ok:
            return ok, err
    return call_job(fn, _STATE[key], job)


class LocalExecutor(Executor):
    """Runs jobs in this process (`workers <= 1`) or in `workers` spawned processes."""

    def __init__(
        self,
        workers: int = 1,
        retry: RetryPolicy = DEFAULT_RETRY,
        warm: tuple[str, ...] = WARM_IMPORTS,
        caller_works: bool = True,
    ) -> None:
        self.workers = max(1, workers)
        self.retry = retry
        self.warm = warm
        # the caller runs jobs too (so `workers` processes work, one of them this one): one
        # process less to start, and this one's detectors are built already
        self.caller_works = caller_works
        self._pool: ProcessPoolExecutor | None = None
        # the payload the workers were started with: (digest, pickled payload, setup)
        self._init: tuple[str, bytes | None, Setup | None] = ("", None, None)
        self._init_payload: Any = None
        self._spawn = self._procs  # processes of the running pool

    # -- the pool -------------------------------------------------------------------------
    def start(
        self, payload: Any = None, setup: Setup | None = None, jobs: int | None = None
    ) -> None:
        """Start the worker processes now: they import while the caller still prepares.

        With a payload, each worker builds its state at start (sent once per worker: a
        release's matcher can be large); without, the first job to each worker brings it.
        With `jobs`, no more processes than there are jobs for."""
        if self.workers <= 1 or self._pool is not None:
            return
        if jobs is not None:
            self._spawn = max(1, min(self._procs, jobs - (1 if self.caller_works else 0)))
        if payload is not None:
            blob = pickle.dumps(payload)
            self._init = (hashlib.sha256(blob).hexdigest(), blob, setup)
            self._init_payload = payload
        threads = threads_per_worker(self.workers)
        old = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = str(threads)  # inherited by spawned workers
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=self._spawn,
                mp_context=mp.get_context("spawn"),
                initializer=_worker_init,
                initargs=(threads, self.warm, *self._init),
            )
            # spawn every worker now (not on the first jobs); do not wait for them
            with _main_not_reimported():
                for _ in range(self._spawn):
                    self._pool.submit(int, 0)
        finally:
            if old is None:
                os.environ.pop("POLARS_MAX_THREADS", None)
            else:
                os.environ["POLARS_MAX_THREADS"] = old

    @property
    def _procs(self) -> int:
        return self.workers - 1 if self.caller_works else self.workers

    def close(self, kill: bool = False) -> None:
        """Stop and reap the workers (terminated at once with `kill`) and multiprocessing's
        resource tracker."""
        pool, self._pool = self._pool, None
        if pool is not None:
            _stop_pool(pool, kill)
            _stop_resource_tracker()
            sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    # -- mapping --------------------------------------------------------------------------
    def map_unordered(
        self, fn: Step, jobs: Sequence[tuple], payload: Any = None, setup: Setup | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(index, result) per job as it finishes; see `Executor.map_unordered`."""
        if not jobs:
            return
        if self.workers <= 1 or len(jobs) == 1:  # no payload to send, nothing to wait for
            yield from self._in_process(fn, jobs, payload, setup)
            return
        self.start(payload, setup, len(jobs))
        try:
            yield from self._pooled(fn, jobs, payload, setup)
        except BaseException:
            self.close(kill=True)  # Ctrl-C, an error, or the caller stopped: no worker stays
            raise

    def _in_process(
        self, fn: Step, jobs: Sequence[tuple], payload: Any, setup: Setup | None
    ) -> Iterator[tuple[int, Any]]:
        state = setup(payload) if setup is not None else payload
        gc.freeze()  # as in a worker; undone after, this process goes on
        try:
            for i, job in enumerate(jobs):
                yield i, fn(state, *job)
        finally:
            gc.unfreeze()

    def _pooled(
        self, fn: Step, jobs: Sequence[tuple], payload: Any, setup: Setup | None
    ) -> Iterator[tuple[int, Any]]:
        key, sent, held = self._init
        if payload is self._init_payload and setup is held and sent is not None:
            sent = None  # the workers hold this payload already: jobs carry its digest only
        else:
            sent = pickle.dumps(payload)
            key = hashlib.sha256(sent).hexdigest()
        queue = deque(range(len(jobs)))
        suspects: deque[int] = deque()  # in flight when a worker died: rerun one at a time
        deaths = [0] * len(jobs)
        inflight: dict[Future, int] = {}
        error: BaseException | None = None
        here: list[Any] = []  # the caller's own state, built at its first job
        try:
            while ((queue or suspects) and error is None) or inflight:
                assert self._pool is not None
                # after a death, suspects run alone, so the next death names its job; else
                # two per worker: the next is queued when one finishes
                limit = 1 if suspects else 2 * self._spawn
                while (suspects or queue) and error is None and len(inflight) < limit:
                    i = suspects.popleft() if suspects else queue.popleft()
                    f = self._pool.submit(_worker_call, fn, key, sent, setup, jobs[i])
                    inflight[f] = i
                crowd = len(inflight)
                if self.caller_works and queue and not suspects and error is None:
                    i = queue.popleft()
                    try:
                        if not here:
                            here.append(setup(payload) if setup is not None else payload)
                            gc.freeze()  # as in a worker; undone after
                        value = fn(here[0], *jobs[i])
                    except Exception as e:
                        error = e
                    else:
                        yield i, value
                    done = {f for f in inflight if f.done()}
                else:
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken: list[int] = []
                for f in done:
                    i = inflight.pop(f)
                    try:
                        ok, value = f.result()
                    except BrokenProcessPool:
                        broken.append(i)
                        continue
                    if not ok:
                        error = error or rebuild_error(*value)
                    elif error is None:
                        yield i, value
                if broken:
                    # a dead worker breaks the whole pool: every job in flight runs again
                    broken += inflight.values()
                    inflight.clear()
                    if crowd == 1:  # it ran alone: its own death
                        (i,) = broken
                        deaths[i] += 1
                        if deaths[i] > self.retry.worker_deaths:
                            raise WorkerDied(
                                f"job {i} ({_describe(jobs[i])}): its worker died "
                                f"{deaths[i]} times"
                            )
                    suspects.extend(sorted(broken))
                    self.close(kill=True)
                    self.start()  # with the payload it was started with
        finally:
            if here:
                gc.unfreeze()
        if error is not None:
            raise error


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Spawned workers import the caller's `__main__` again, unless it is hidden while they
    start. Hidden when it defines no job: a console script (`bin/childguard`, `bin/pytest`)
    or a childguard module run with -m (about 0.3 s of imports saved per worker)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    path = getattr(main, "__file__", None)
    needed = (
        not spec.name.startswith("childguard")
        if spec is not None
        else path is not None and path.endswith(".py")
    )
    if main is None or needed:
        yield
        return
    saved = main.__dict__.copy()
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        for k in ("__spec__", "__file__"):
            if k in saved:
                setattr(main, k, saved[k])


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`, from Linux's /proc: what a run
    left behind when `pgid` was its own group."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _describe(job: tuple) -> str:
    """What a job works on, for an error message: the first path among its arguments."""
    for a in job:
        path = getattr(getattr(a, "shard", a), "path", None)
        if path:
            return str(path)
    return repr(job)[:80]


def _stop_pool(pool: ProcessPoolExecutor, kill: bool) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if kill:
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()


def _stop_resource_tracker() -> None:
    """The spawn context starts multiprocessing's resource-tracker process; stop and reap it
    with the pool, so nothing is left behind (an unreaped one lingers as a zombie where
    PID 1 does not reap, as in many containers)."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
