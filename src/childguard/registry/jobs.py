"""Run one function per shard on the scan's engines: a local process pool or Ray.

Both go through the `executors` layer (`map_ordered`: results in shard order), so a job's
output does not depend on the engine. Each function writes its own per-shard file atomically, which is what makes the jobs
built on this (URL index, batch matching) resumable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENGINES = ("local", "ray")


class JobError(RuntimeError):
    """A job that cannot run (unknown engine, Ray missing or unreachable)."""
    pass


def map_shards(
    fn: Callable[..., Any],
    jobs: list[tuple],
    payload: Any,
    *,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    shared_dir: Path | None = None,
) -> Iterator[Any]:
    """fn(payload, *job) for every job on the chosen engine, yielded in job order."""
    from childguard.io.paths import InputError

    if engine == "local":
        from childguard.executors import LocalExecutor

        executor: Any = LocalExecutor(workers)
    elif engine == "ray":
        try:
            from childguard.executors.ray import RayExecutor
        except ImportError as e:
            raise JobError(f"--engine ray needs Ray installed ({e})") from None
        # --workers left at 1 on a cluster: as many tasks as the cluster holds
        executor = RayExecutor(ray_address, workers if workers > 1 else None)
    else:
        raise JobError(f"unknown engine {engine!r} (local or ray)")
    try:
        with executor as ex:
            if shared_dir is not None:
                ex.check_shared(shared_dir)
            yield from ex.map_ordered(fn, jobs, payload)
    except InputError as e:  # Ray unreachable, or an output folder the workers do not see
        raise JobError(str(e)) from None


__all__ = ["ENGINES", "JobError", "map_shards"]
