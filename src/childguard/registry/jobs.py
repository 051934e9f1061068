"""Run one function per shard on the scan's engines: a local process pool or Ray.

The local engine is `release.pool.ordered_map` (results in shard order); Ray maps the same
function with `engine.ray_release`'s task mapper, so a job's output does not depend on the
engine. Each function writes its own per-shard file atomically, which is what makes the jobs
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


def _ray_call(job: tuple, fn: Callable[..., Any], payload: Any) -> Any:
    return fn(payload, *job)


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
    if engine == "local":
        from childguard.release.pool import ordered_map

        yield from ordered_map(fn, jobs, payload, workers)
        return
    if engine != "ray":
        raise JobError(f"unknown engine {engine!r} (local or ray)")
    try:
        import ray

        from childguard.engine.ray import check_shared_out, connect
        from childguard.engine.ray_release import _map
    except ImportError as e:
        raise JobError(f"--engine ray needs Ray installed ({e})") from None
    from childguard.io.paths import InputError

    try:
        started = connect(ray_address, workers if workers > 1 else None)
    except InputError as e:
        raise JobError(str(e)) from None
    try:
        if shared_dir is not None:
            try:
                check_shared_out(shared_dir)
            except InputError as e:
                raise JobError(str(e)) from None
        done: dict[int, Any] = {}
        nxt = 0
        kwargs = {"fn": fn, "payload": payload}
        for i, result in _map(_ray_call, jobs, workers if workers > 1 else None, kwargs):
            done[i] = result
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
    finally:
        if started:
            ray.shutdown()


__all__ = ["ENGINES", "JobError", "map_shards"]
