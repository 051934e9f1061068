"""Where per-item work runs: in this process, a local process pool, or Ray.

Steps (scan a task, write a release shard, purge an apply item) are plain functions
`fn(state, *job)`; an `Executor` maps them over jobs, ordered or as they finish, with one
retry policy (`RetryPolicy`) and one thread rule (`threads_per_worker`). A step never knows
which executor runs it. `executors.ray` is imported only with `--engine ray`.
"""

from childguard.executors.base import (
    Executor,
    JobFailed,
    RetryPolicy,
    WorkerDied,
    threads_per_worker,
)
from childguard.executors.local import LocalExecutor

__all__ = [
    "Executor",
    "JobFailed",
    "LocalExecutor",
    "RetryPolicy",
    "WorkerDied",
    "threads_per_worker",
]
