"""The executor contract: map a step over jobs, one retry policy, one thread rule, errors home.

A step is `fn(state, *job)`. `state` is `setup(payload)` when a `setup` is given (run once per
worker process: detectors, a matcher), else `payload` itself; the payload travels to each
worker once, not once per job. Jobs must be idempotent: a job whose worker died is run
again (`RetryPolicy`), never a job that raised; its exception reaches the caller as itself.
"""

from __future__ import annotations

import os
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Step = Callable[..., Any]
Setup = Callable[[Any], Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a job is run again after its worker died (killed, OOM, segfault).

    Finite: a job that kills every worker it lands on fails the run rather than looping.
    An exception the job raises is its answer and is never retried."""

    worker_deaths: int = 4


DEFAULT_RETRY = RetryPolicy()


class WorkerDied(RuntimeError):
    """A job's worker died more often than the retry policy allows."""


class JobFailed(RuntimeError):
    """A job raised an exception that cannot be rebuilt as its own type in the caller."""


def threads_per_worker(workers: int, cpus: float | None = None) -> int:
    """Polars/Arrow threads for each of `workers` processes sharing `cpus` cores (>= 1)."""
    total = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, int(total // max(1, workers)))


def call_job(fn: Step, state: Any, job: tuple) -> tuple[bool, Any]:
    """Run one job; its result, or its exception as data `(type, message, traceback)`.

    Exceptions travel as data because one whose `__init__` takes other arguments
    (`ShardError`) does not survive pickling as itself, and Ray wraps raised ones."""
    try:
        return True, fn(state, *job)
    except Exception as e:
        return False, (type(e), str(e), traceback.format_exc())


def rebuild_error(cls: type[BaseException], message: str, tb: str = "") -> BaseException:
    """The worker's exception as an instance of its own class with its message."""
    try:
        err = cls.__new__(cls)
        Exception.__init__(err, message)  # str(err) is the worker's message, whatever __init__
    except TypeError:
        err = JobFailed(f"{cls.__name__}: {message}")
    if tb:
        err.add_note(f"raised in a worker:\n{tb}")
    return err


def unwrap(outcome: tuple[bool, Any]) -> Any:
    """A job's result, or raise its rebuilt exception."""
    ok, value = outcome
    if ok:
        return value
    raise rebuild_error(*value)


class Executor(ABC):
    """Maps a step over jobs; used as a context manager (what it started, it stops)."""

    workers: int = 1
    retry: RetryPolicy = DEFAULT_RETRY

    @abstractmethod
    def map_unordered(
        self, fn: Step, jobs: Sequence[tuple], payload: Any = None, setup: Setup | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(job index, result) for every job as it finishes. After a job raises, jobs under
        way finish (they may write into a folder the caller removes) and the first error is
        raised; no result is yielded after it."""

    def map_ordered(
        self, fn: Step, jobs: Sequence[tuple], payload: Any = None, setup: Setup | None = None
    ) -> Iterator[Any]:
        """Results in job order (reports and manifests are then those of one process)."""
        done: dict[int, Any] = {}
        nxt = 0
        for i, value in self.map_unordered(fn, jobs, payload, setup):
            done[i] = value
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1

    def check_shared(self, folder: Path) -> None:
        """Fail before any work unless every worker sees `folder` (where the steps write).
        Always true on one machine."""
        return None

    def close(self) -> None:
        """Stop whatever this executor started (processes, a Ray instance)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
