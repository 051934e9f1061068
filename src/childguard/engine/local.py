"""The local executor: a process pool over (shard, row group) tasks on one machine."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from childguard.config import ScanConfig
from childguard.detect.base import Detector
from childguard.engine.run import ScanConfigMismatch, ScanResult, ScanRun
from childguard.engine.tasks import ScanContext, TaskResult, build_detectors, run_task
from childguard.io.readers import ShardInfo, Task
from childguard.policy import Policy

__all__ = ["ScanConfigMismatch", "ScanResult", "run_scan"]


# worker-process globals: detectors are built once per worker, not once per task
_W_CTX: ScanContext | None = None
_W_DETS: list[Detector] | None = None


def _worker_init(ctx: ScanContext) -> None:
    global _W_CTX, _W_DETS
    _W_CTX = ctx
    _W_DETS = build_detectors(ctx)
    for d in _W_DETS:
        d.ensure_setup()
    # modules, word lists and automata live as long as the worker: keep the cyclic GC from
    # re-scanning them at every collection (about 3% of a scan's time)
    gc.freeze()


def _worker_run(info: ShardInfo, task: Task) -> TaskResult:
    assert _W_CTX is not None and _W_DETS is not None
    return run_task(info, task, _W_CTX, _W_DETS)


def run_scan(
    config: ScanConfig,
    policy: Policy | None = None,
    *,
    restart: bool = False,
    progress: bool | None = None,
) -> ScanResult:
    run = ScanRun(config, policy, restart=restart, progress=progress)
    with run:
        work = run.work
        workers = max(1, min(config.workers, len(work)))
        if workers == 1:
            for d in run.dets:
                d.ensure_setup()
            gc.freeze()  # as in `_worker_init`; undone after, this process may go on
            try:
                for info, t in work:
                    run.on_result(run_task(info, t, run.ctx, run.dets))
            finally:
                gc.unfreeze()
        else:
            _run_pool(work, run.ctx, workers, run.on_result)
    return run.close()


def _run_pool(work, ctx: ScanContext, workers: int, on_result) -> None:
    # spawn: polars/arrow thread pools do not survive fork; one polars thread per worker
    old = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(ctx,),
        ) as pool:
            queue = list(reversed(work))
            inflight: set[Future] = set()
            try:
                while queue or inflight:
                    # bounded submission keeps the parent's memory flat on huge plans
                    while queue and len(inflight) < workers * 4:
                        info, t = queue.pop()
                        inflight.add(pool.submit(_worker_run, info, t))
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_result(f.result())
            except BaseException:
                for f in inflight:
                    f.cancel()
                raise
    finally:
        if old is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = old
        _stop_resource_tracker()
    sys.stderr.flush()


def _stop_resource_tracker() -> None:
    """The spawn context starts multiprocessing's resource-tracker process; stop and reap it
    with the pool, so a scan leaves no process behind (an unreaped one lingers as a zombie
    where PID 1 does not reap, as in many containers)."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
