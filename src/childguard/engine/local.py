"""`childguard scan` on one machine: a `ScanRun` fed by an executor (by default local).

The run's bookkeeping is `engine.run.ScanRun`; the work is `engine.tasks.scan_job`, mapped
by a `childguard.executors` executor (this process for one worker, else a pool of spawned
processes that build their detectors once each). Results are accounted as tasks finish.
"""

from __future__ import annotations

from childguard.config import ScanConfig
from childguard.engine.run import ScanConfigMismatch, ScanResult, ScanRun
from childguard.engine.tasks import ScanWorker, scan_job, setup_worker
from childguard.executors import Executor, LocalExecutor
from childguard.policy import Policy

__all__ = ["ScanConfigMismatch", "ScanResult", "run_scan", "scan_with"]


def run_scan(
    config: ScanConfig,
    policy: Policy | None = None,
    *,
    restart: bool = False,
    progress: bool | None = None,
    executor: Executor | None = None,
) -> ScanResult:
    """Scan `config.inputs` into `config.out`; `executor` defaults to `config.workers` local
    processes (it is closed when the scan ends, whatever happens)."""
    with executor or LocalExecutor(config.workers) as ex:
        run = ScanRun(config, policy, restart=restart, progress=progress)
        return scan_with(run, ex)


def scan_with(run: ScanRun, executor: Executor) -> ScanResult:
    """Run every pending task of `run` on `executor` and close the run (totals, run.json)."""
    with run:
        work = run.work
        if work:
            executor.check_shared(run.layout.root)
        worker = ScanWorker(run.ctx, run.dets)  # this process's detectors, reused here
        _warm_compiled(work, executor)
        for _, result in executor.map_unordered(scan_job, work, worker, setup_worker):
            run.on_result(result)
    return run.close()


def _warm_compiled(work: list, executor: Executor) -> None:
    """When the workers will switch to the compiled normalisation (`textnorm.backend`),
    compile it here first: numba caches the machine code on disk, so the workers load it
    (~0.3 s) instead of each compiling it (~15 s on a machine's first run); once a process has
    done so for the current kernels (`textnorm.is_warm`), callers skip it. Unknown row counts
    (CSV, JSON lines) count as none: those workers compile for themselves."""
    from childguard.detect import textnorm

    workers = getattr(executor, "workers", 1)
    if workers <= 1 or len(work) <= 1:
        return  # no other process: this one compiles when it gets there
    rows = sum(task.num_rows or 0 for _, task in work)
    if textnorm.uses_compiled(rows // min(workers, len(work))) and not textnorm.is_warm():
        textnorm.warm_compiled()
