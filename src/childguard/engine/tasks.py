"""Executor-agnostic work: plan shards into tasks, run one task, finalise one shard.

Both executors (local process pool, Ray) call exactly these functions, so the same input gives
the same findings whichever runs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa

from childguard import __version__
from childguard.detect import REGISTRY, load_builtin
from childguard.detect.base import Detector
from childguard.engine.batch import (
    ERRORS_SCHEMA,
    FINDINGS_SCHEMA,
    decide_batch_with_errors,
    empty_table,
)
from childguard.engine.facets import merge as merge_facets
from childguard.engine.facets import seal as seal_facets
from childguard.engine.state import OutLayout
from childguard.formats.markers import TaskMarker
from childguard.formats.stats import ShardStats
from childguard.io.atomic import write_parquet_atomic
from childguard.io.memory import use_scan_pool
from childguard.io.paths import Shard, file_sha256
from childguard.io.readers import ShardError, ShardInfo, Task, iter_task_batches, open_shard
from childguard.policy import RISKS, Policy


@dataclass
class ScanContext:
    """Everything a worker needs; picklable, sent once per worker."""

    out: str
    policy: Policy
    detector_names: list[str]
    detector_options: dict[str, dict]
    batch_rows: int
    url_col: str | None = None
    text_col: str | None = None
    plugins: list[str] = field(default_factory=list)

    @property
    def layout(self) -> OutLayout:
        """The output folder's layout."""
        from pathlib import Path

        return OutLayout(Path(self.out))


def load_plugins(plugins: list[str]) -> None:
    """Import each plugin module (so its detectors register themselves)."""
    import importlib

    for mod in plugins:
        importlib.import_module(mod)


def resolve_detector_names(
    policy: Policy, requested: list[str] | None, plugins: list[str] | None = None
) -> list[str]:
    """Detectors to run: those requested, else the policy's, else all registered."""
    load_builtin()
    load_plugins(plugins or [])
    if requested:
        return list(requested)
    if policy.detectors:
        return list(policy.detectors)
    return REGISTRY.names()


def build_detectors(ctx: ScanContext) -> list[Detector]:
    """Instantiate the context's detectors and check the policy reads only those."""
    load_builtin()
    load_plugins(ctx.plugins)
    dets = REGISTRY.create(ctx.detector_names, ctx.detector_options)
    ctx.policy.check_detectors({d.name for d in dets})
    return dets


@dataclass
class TaskResult:
    """What running one task gave: rows, risk counts, seconds, or the error."""
    shard_id: str
    task: int
    rows: int
    risk_counts: dict[str, int]
    seconds: float
    skipped: bool = False
    error: str | None = None
    error_row: int | None = None


@dataclass
class ShardPlan:
    """A shard's plan: done already, failed to open, or its pending tasks."""
    shard: Shard
    info: ShardInfo | None
    error: str | None = None
    done: bool = False
    pending: list[Task] = field(default_factory=list)


def plan_shard(shard: Shard, ctx: ScanContext) -> ShardPlan:
    """Open a shard and list its tasks without a completion marker."""
    layout = ctx.layout
    if layout.shard_done(shard.shard_id):
        # a run killed between a shard's stats and its state clean-up leaves merged parts
        # behind: they are spent, remove them
        layout.clear_state(shard.shard_id)
        return ShardPlan(shard, None, done=True)
    try:
        info = open_shard(shard, ctx.url_col, ctx.text_col, task_rows=ctx.batch_rows)
    except ShardError as e:
        return ShardPlan(shard, None, error=str(e))
    done = {t.index: layout.task_done(shard.shard_id, t.index) for t in info.tasks}
    if any(
        m is not None
        and (m.row_offset != t.row_offset or (t.num_rows is not None and m.rows != t.num_rows))
        for t, m in zip(info.tasks, done.values(), strict=True)
    ):
        # parts of another task plan (a version that split the shard otherwise, or a marker
        # without its offset): not these tasks' rows, so the shard starts again
        layout.clear_state(shard.shard_id)
        done = dict.fromkeys(done)
    pending = [t for t in info.tasks if done[t.index] is None]
    return ShardPlan(shard, info, pending=pending)


def run_task(
    info: ShardInfo, task: Task, ctx: ScanContext, detectors: list[Detector]
) -> TaskResult:
    """Score and decide one task's batches and write its part and marker."""
    layout = ctx.layout
    t0 = time.perf_counter()
    counts = dict.fromkeys(RISKS, 0)
    parts: list[pa.Table] = []
    error_parts: list[pa.Table] = []
    rows = pictures = 0
    facets: dict[str, dict[str, int]] = {}
    try:
        for batch in iter_task_batches(info, task, ctx.batch_rows):
            findings, c, errors, f, pic = decide_batch_with_errors(batch, detectors, ctx.policy)
            merge_facets(facets, f)
            pictures += pic
            rows += batch.num_rows
            for k, v in c.items():
                counts[k] += v
            if findings.num_rows:
                parts.append(findings)
            if errors.num_rows:
                error_parts.append(errors)
    except ShardError as e:
        return TaskResult(
            info.shard.shard_id, task.index, rows, counts, 0.0, error=str(e), error_row=e.row
        )
    if task.num_rows is not None and rows != task.num_rows:
        return TaskResult(
            info.shard.shard_id,
            task.index,
            rows,
            counts,
            0.0,
            error=f"{info.shard.path}: task {task.index} read {rows} rows, "
            f"footer says {task.num_rows}",
        )
    table = pa.concat_tables(parts) if parts else empty_table(FINDINGS_SCHEMA)
    errors = pa.concat_tables(error_parts) if error_parts else empty_table(ERRORS_SCHEMA)
    row_errors: dict[str, int] = {}
    for d in errors.column("detector").to_pylist():
        row_errors[d] = row_errors.get(d, 0) + 1
    seconds = time.perf_counter() - t0
    layout.write_task(
        info.shard.shard_id,
        task.index,
        table,
        TaskMarker.new(
            rows=rows,
            risk_counts=counts,
            seconds=round(seconds, 4),
            row_offset=task.row_offset,
            row_errors=row_errors,
            facets=seal_facets(facets),
            picture_checked=pictures,
        ),
        errors,
    )
    return TaskResult(info.shard.shard_id, task.index, rows, counts, seconds)


class ScanWorker:
    """A scan's per-worker state: the context and its detectors, built once per worker.

    Pickled without its detectors: each worker process builds its own (`setup_worker`); in
    the caller's process the detectors it built already are used."""

    def __init__(self, ctx: ScanContext, detectors: list[Detector] | None = None) -> None:
        self.ctx = ctx
        self.detectors = detectors

    def __getstate__(self) -> dict:
        return {"ctx": self.ctx, "detectors": None}


def setup_worker(worker: ScanWorker) -> ScanWorker:
    """Build (once) and set up the worker's detectors: an executor's per-worker setup."""
    use_scan_pool()
    if worker.detectors is None:
        worker.detectors = build_detectors(worker.ctx)
    for d in worker.detectors:
        d.ensure_setup()
    return worker


def scan_job(worker: ScanWorker, info: ShardInfo, task: Task) -> TaskResult:
    """One task as an executor job. A task whose marker exists (a retry after its worker died
    between writing the marker and reporting, or a task a killed run finished) is not run
    again: the marker is the result, so every row is counted once."""
    ctx = worker.ctx
    marker = ctx.layout.task_done(info.shard.shard_id, task.index)
    if marker is not None:
        return TaskResult(
            info.shard.shard_id,
            task.index,
            marker.rows,
            marker.risk_counts,
            marker.seconds,
            skipped=True,
        )
    assert worker.detectors is not None, "setup_worker builds the detectors"
    return run_task(info, task, ctx, worker.detectors)


def finalize_shard(plan: ShardPlan, ctx: ScanContext) -> dict:
    """Merge a shard's task parts into findings + stats. Checks every row is accounted for."""
    assert plan.info is not None
    info = plan.info
    layout = ctx.layout
    sid = info.shard.shard_id
    parts, rows, seconds, pictures = [], 0, 0.0, 0
    error_parts: list[pa.Table] = []
    row_errors: dict[str, int] = {}
    counts = dict.fromkeys(RISKS, 0)
    facets: dict[str, dict[str, int]] = {}
    for t in info.tasks:
        marker = layout.task_done(sid, t.index)
        if marker is None:
            raise RuntimeError(f"{info.shard.path}: task {t.index} has no completion marker")
        rows += marker.rows
        seconds += marker.seconds
        pictures += marker.picture_checked
        for k, v in marker.risk_counts.items():
            counts[k] += v
        for d, v in marker.row_errors.items():
            row_errors[d] = row_errors.get(d, 0) + v
        merge_facets(facets, marker.facets)
        part = layout.read_part(sid, t.index)
        if part.num_rows:
            parts.append(part.cast(FINDINGS_SCHEMA))
        err = layout.read_part_errors(sid, t.index)
        if err is not None and err.num_rows:
            error_parts.append(err.cast(ERRORS_SCHEMA))
    findings = pa.concat_tables(parts) if parts else empty_table(FINDINGS_SCHEMA)
    flagged = sum(v for k, v in counts.items() if k != "clean")
    if info.num_rows is not None and rows != info.num_rows:
        raise RuntimeError(f"{info.shard.path}: read {rows} rows, footer says {info.num_rows}")
    if findings.num_rows != flagged or sum(counts.values()) != rows:
        raise RuntimeError(
            f"{info.shard.path}: findings do not add up ({findings.num_rows} "
            f"rows written, {flagged} flagged, {rows} read)"
        )
    if sum(e.num_rows for e in error_parts) != sum(row_errors.values()):
        raise RuntimeError(f"{info.shard.path}: row error parts do not match their markers")
    if error_parts:
        write_parquet_atomic(layout.errors(sid), pa.concat_tables(error_parts))
    else:
        layout.errors(sid).unlink(missing_ok=True)
    write_parquet_atomic(layout.findings(sid), findings)
    stats = {
        "shard_id": sid,
        "path": info.shard.path,
        "format": info.shard.format,
        "compression": info.shard.compression,
        "convention": info.columns.convention,
        "columns": info.columns.to_json(),
        "rows": rows,
        "risk_counts": counts,
        "findings": findings.num_rows,
        "tasks": len(info.tasks),
        "seconds": round(seconds, 3),
        "errors": [],
        # rows a detector could not check (e.g. an unreadable image): listed in errors/
        "row_errors": dict(sorted(row_errors.items())),
        # flagged rows per language, platform, site type, URL year, place (counts only)
        "facets": seal_facets(facets),
        # rows whose image or embedding a detector looked at; the others had no
        # picture-level check (no images or embeddings for them)
        "picture_checked": pictures,
        "status": "ok",
        "tool_version": __version__,
    }
    if info.shard.is_local:
        # the bytes this scan read, so a release can tell a same-size edit since (one more
        # sequential read of the file, ~1 GB/s against a scan's ~10-20 MB/s per core)
        stats["sha256"] = file_sha256(info.shard.path.removeprefix("file://"))
    rec = ShardStats.new(**stats)
    rec.write(layout.stats(sid))
    layout.clear_state(sid)
    return rec.dump()


def fail_shard(shard: Shard, ctx: ScanContext, errors: list[str], rows: int = 0) -> dict:
    """Write stats with status "failed" and the errors for a shard; returns the stats."""
    stats = {
        "shard_id": shard.shard_id,
        "path": shard.path,
        "format": shard.format,
        "rows": rows,
        "risk_counts": dict.fromkeys(RISKS, 0),
        "errors": errors,
        "status": "failed",
        "tool_version": __version__,
    }
    rec = ShardStats.new(**stats)
    rec.write(ctx.layout.stats(shard.shard_id))
    return rec.dump()
