"""`childguard release` and `childguard apply` with `--engine ray`.

The same per-shard functions as the local commands, mapped over shards with Ray Data:
`childguard.release.build.release_shard` for a release (the driver still decides, merges the
manifest and publishes the release directory), and the apply run's own per-item work for
apply (the driver still discovers the files and records which are done). So the release and
the purged copy are byte for byte those of the local engine.

Workers write where the local commands write (the release's temp directory, `--out`, or the
files themselves with `--in-place`), so on a multi-node cluster those must be on a filesystem
every node mounts at the same path; that is checked before any work starts.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
import ray.data

from childguard.engine.ray import _TAKES_REMOTE_ARGS, TASK_RETRIES, check_shared_out, connect
from childguard.io.paths import InputError
from childguard.release.apply import ApplyError, FileReport, Item, _Run
from childguard.release.build import ReleaseError

_RESULT = pa.schema([("i", pa.int64()), ("result", pa.binary())])


def _map(
    fn: Callable[..., Any], payloads: list[Any], workers: int | None, fn_kwargs: dict
) -> Iterator[tuple[int, Any]]:
    """Run `fn(payload, **fn_kwargs)` per payload as Ray Data tasks; yield (index, result)
    as they finish. childguard's own errors from `fn` reach the caller as themselves."""
    if not payloads:
        return
    data_ctx = ray.data.DataContext.get_current()
    data_ctx.enable_progress_bars = False
    data_ctx.execution_options.preserve_order = False
    items = [{"i": i, "payload": pickle.dumps(p)} for i, p in enumerate(payloads)]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    size = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), len(items)))
    compute = (
        {"compute": ray.data.TaskPoolStrategy(size=size)}
        if hasattr(ray.data, "TaskPoolStrategy")
        else {"concurrency": size}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # extra remote args
        mapped = ds.map_batches(
            _run_batch,
            fn_kwargs={"fn": fn, "kwargs": fn_kwargs},
            batch_size=1,
            batch_format="pyarrow",
            **compute,
            # a task whose worker died is run again (each is idempotent), but not forever
            **({"max_retries": TASK_RETRIES} if _TAKES_REMOTE_ARGS else {}),
        )
    first_error: BaseException | None = None
    # on an error, let the tasks already under way finish (they may be writing into a
    # folder the caller deletes when it sees the error), then raise the first one
    for out in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
        ids, blobs = out.column("i").to_pylist(), out.column("result").to_pylist()
        for i, blob in zip(ids, blobs, strict=True):
            ok, value = pickle.loads(blob)
            if ok:
                if first_error is None:
                    yield i, value
            elif first_error is None:
                first_error = _rebuild(*value)
    if first_error is not None:
        raise first_error


def _run_batch(batch: pa.Table, fn: Callable[..., Any], kwargs: dict) -> pa.Table:
    from childguard.io.readers import ShardError

    ids, results = batch.column("i").to_pylist(), []
    for p in batch.column("payload").to_pylist():
        try:
            results.append(pickle.dumps((True, fn(pickle.loads(p), **kwargs))))
        except (ReleaseError, ApplyError, ShardError) as e:
            # an expected, explained failure travels as data: Ray's wrapping of a raised
            # exception does not give the caller the original back
            results.append(pickle.dumps((False, (type(e), str(e)))))
    return pa.table({"i": pa.array(ids, pa.int64()), "result": results}, schema=_RESULT)


def _rebuild(cls: type[BaseException], message: str) -> BaseException:
    err = cls.__new__(cls)
    Exception.__init__(err, message)  # str(err) is the worker's message, whatever __init__
    return err


# ------------------------------------------------------------------------------------------
# release


def _release_one(job: tuple, fn: Callable[..., dict], matcher: Any, tmp: str) -> dict:
    return fn(*job, matcher, Path(tmp))


def release_mapper(
    address: str | None = None, workers: int | None = None
) -> Callable[[Callable[..., dict], list[tuple], Any, Path], list[dict]]:
    """A `map_shards` for `build_release`: runs `release_shard` once per shard on Ray."""

    def map_shards(fn: Callable[..., dict], jobs: list[tuple], matcher: Any, tmp: Path):
        try:
            started = connect(address, workers)
        except InputError as e:
            raise ReleaseError(str(e)) from None
        try:
            try:
                check_shared_out(tmp)
            except InputError as e:
                raise ReleaseError(str(e)) from None
            recs: list[dict | None] = [None] * len(jobs)
            kwargs = {"fn": fn, "matcher": matcher, "tmp": str(tmp)}
            for i, rec in _map(_release_one, jobs, workers, kwargs):
                recs[i] = rec
        finally:
            if started:
                ray.shutdown()
        return recs

    return map_shards


# ------------------------------------------------------------------------------------------
# apply


def _apply_one(item: Item, run: _Run) -> list[FileReport]:
    return run.run_item(item)  # the item's work only; the driver keeps the state file


def apply_mapper(address: str | None = None, workers: int | None = None):
    """A `map_items` for `apply_manifest`: each item's work runs as a Ray task; reports come
    back in item order (`apply_manifest` records finished items, in the driver)."""

    def map_items(run: _Run, items: list[Item]) -> Iterator[list[FileReport]]:
        try:
            started = connect(address, workers)
        except InputError as e:
            raise ApplyError(str(e)) from None
        try:
            if items and run.writing:
                where = [run.out] if run.out is not None else {i.base for i in items}
                try:
                    for folder in sorted(where):
                        check_shared_out(folder)
                except InputError as e:
                    raise ApplyError(str(e)) from None
            finished: dict[int, list[FileReport]] = {}
            nxt = 0
            for k, reps in _map(_apply_one, items, workers, {"run": run}):
                finished[k] = reps
                while nxt in finished:  # in item order, as the local engine reports
                    yield finished.pop(nxt)
                    nxt += 1
        finally:
            if started:
                ray.shutdown()

    return map_items


__all__ = ["apply_mapper", "release_mapper"]
