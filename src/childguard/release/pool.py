"""A small ordered process pool for per-shard work (release writes, apply items).

`spawn` processes (Polars/Arrow thread pools do not survive fork) with one Polars thread each;
a per-worker payload (the manifest matcher) is sent once through the initializer; at most
2 x workers tasks are in flight, and results come back in submission order, so reports and
manifests are the same as with one process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

_PAYLOAD: Any = None


def _init(payload: Any) -> None:
    global _PAYLOAD
    _PAYLOAD = payload


def _call(fn: Callable[..., Any], args: tuple) -> tuple[bool, Any]:
    try:
        return True, fn(_PAYLOAD, *args)
    except Exception as e:
        # sent back as (type, message): exceptions whose __init__ takes other arguments
        # (ShardError) would not survive pickling as themselves
        return False, (type(e), str(e))


def _result(fut: Future) -> Any:
    ok, value = fut.result()
    if ok:
        return value
    cls, message = value
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    raise err


def ordered_map(
    fn: Callable[..., Any], jobs: Iterable[tuple], payload: Any, workers: int
) -> Iterator[Any]:
    """fn(payload, *job) for every job, in order; in this process when workers <= 1."""
    if workers <= 1:
        for job in jobs:
            yield fn(payload, *job)
        return
    old = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init,
            initargs=(payload,),
        ) as pool:
            pending: deque[Future] = deque()
            for job in jobs:
                pending.append(pool.submit(_call, fn, job))
                if len(pending) >= 2 * workers:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
    finally:
        if old is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = old
