"""The local executor: a process pool over (shard, row group) tasks on one machine."""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path

from childguard import __version__
from childguard.config import ScanConfig
from childguard.detect.base import Detector
from childguard.engine.progress import ScanProgress
from childguard.engine.state import OutLayout
from childguard.engine.tasks import (
    ScanContext,
    ShardPlan,
    TaskResult,
    build_detectors,
    fail_shard,
    finalize_shard,
    plan_shard,
    resolve_detector_names,
    run_task,
)
from childguard.io.atomic import clean_stale_temps, write_json_atomic
from childguard.io.paths import expand_inputs
from childguard.io.readers import ShardInfo, Task
from childguard.policy import RISKS, Policy, load_policy


class ScanConfigMismatch(RuntimeError):
    pass


@dataclass
class ScanResult:
    out: Path
    shards: list[dict] = field(default_factory=list)  # per-shard stats
    failed: list[dict] = field(default_factory=list)
    rows: int = 0
    risk_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RISKS, 0))
    seconds: float = 0.0
    skipped_shards: int = 0
    row_errors: dict[str, int] = field(default_factory=dict)  # detector -> rows it failed on

    @property
    def ok(self) -> bool:
        return not self.failed


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


def prepare_run(config: ScanConfig, policy: Policy | None = None, restart: bool = False):
    """Resolve policy/detectors, check resume compatibility, write run.json. Shared by engines."""
    policy = policy or load_policy()
    names = resolve_detector_names(policy, config.detectors, config.plugins)
    ctx = ScanContext(
        out=str(Path(config.out).resolve()),
        policy=policy,
        detector_names=names,
        detector_options=config.detector_options,
        batch_rows=config.batch_rows,
        url_col=config.url_col,
        text_col=config.text_col,
        plugins=config.plugins,
    )
    dets = build_detectors(ctx)  # fail fast in the parent on a bad policy or detector
    described = [d.describe() for d in dets]
    # workers rebuild detectors from the options the parent resolved (e.g. takedown lists
    # pinned at name@version), so every worker matches what run.json records
    ctx.detector_options = {d["name"]: dict(d["options"]) for d in described}
    config_hash = config.fingerprint(policy, described)
    layout = OutLayout(Path(ctx.out))
    if restart:
        layout.wipe()
    if layout.run_json.exists():
        try:
            prev = json.loads(layout.run_json.read_text())
        except ValueError:
            prev = {}
        if prev.get("config_hash") not in (None, config_hash):
            raise ScanConfigMismatch(
                f"{layout.root} holds a scan made with another configuration "
                f"({prev.get('config_hash')} != {config_hash}); use another --out or --restart"
            )
    clean_stale_temps(layout.root)
    shards = expand_inputs(config.inputs)
    return ctx, dets, described, config_hash, layout, shards


def write_run_json(layout, config, ctx, described, config_hash, plans, status, result=None):
    run = {
        "tool": "childguard",
        "tool_version": __version__,
        "status": status,
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash,
        "policy": ctx.policy.model_dump(mode="json"),
        "policy_hash": ctx.policy.fingerprint(),
        "detectors": described,
        "inputs": [
            (p.info.to_json() if p.info is not None else {**p.shard.to_json(), "error": p.error})
            for p in plans
        ],
    }
    if layout.run_json.exists():
        try:
            prev = json.loads(layout.run_json.read_text())
            # keep what earlier (resumed) runs learnt about shards finished before this one
            known = {i["shard_id"]: i for i in prev.get("inputs", [])}
            run["inputs"] = [
                known.get(i["shard_id"], i) if "columns" not in i else i for i in run["inputs"]
            ]
        except ValueError:
            pass
    if result is not None:
        run["summary"] = {
            "rows": result.rows,
            "risk_counts": result.risk_counts,
            "row_errors": result.row_errors,
            "shards": len(result.shards),
            "failed_shards": [f["shard_id"] for f in result.failed],
            "seconds": round(result.seconds, 3),
        }
    write_json_atomic(layout.run_json, run)


def run_scan(
    config: ScanConfig,
    policy: Policy | None = None,
    *,
    restart: bool = False,
    progress: bool | None = None,
) -> ScanResult:
    t0 = time.perf_counter()
    ctx, dets, described, config_hash, layout, shards = prepare_run(config, policy, restart)
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(shards)))) as tp:
        plans: list[ShardPlan] = list(tp.map(lambda s: plan_shard(s, ctx), shards))
    write_run_json(layout, config, ctx, described, config_hash, plans, "running")

    result = ScanResult(out=layout.root)
    todo = [p for p in plans if not p.done and p.error is None]
    for p in plans:
        if p.error is not None:
            result.failed.append(fail_shard(p.shard, ctx, [p.error]))
    total_rows = sum((p.info.num_rows or 0) for p in todo)
    rows_known = all(p.info.num_rows is not None for p in todo)
    prog = ScanProgress(
        total_rows if rows_known else None,
        sum(len(p.pending) for p in todo),
        enabled=progress,
    )
    remaining = {p.shard.shard_id: len(p.pending) for p in todo}
    task_errors: dict[str, list[str]] = {}
    by_id = {p.shard.shard_id: p for p in todo}

    def on_result(r: TaskResult) -> None:
        prog.advance(r.rows)
        if r.error:
            task_errors.setdefault(r.shard_id, []).append(r.error)
        remaining[r.shard_id] -= 1
        if remaining[r.shard_id] == 0:
            _finish(by_id[r.shard_id])

    def _finish(p: ShardPlan) -> None:
        errs = task_errors.get(p.shard.shard_id)
        if errs:
            result.failed.append(fail_shard(p.shard, ctx, errs))
            return
        try:
            result.shards.append(finalize_shard(p, ctx))
        except RuntimeError as e:
            result.failed.append(fail_shard(p.shard, ctx, [str(e)]))

    with prog:
        for p in todo:  # shards whose tasks all finished in an earlier run
            if not p.pending:
                _finish(p)
        work = [(p.info, t) for p in todo for t in p.pending]
        workers = max(1, min(config.workers, len(work)))
        if workers == 1:
            for d in dets:
                d.ensure_setup()
            gc.freeze()  # as in `_worker_init`; undone after, this process may go on
            try:
                for info, t in work:
                    on_result(run_task(info, t, ctx, dets))
            finally:
                gc.unfreeze()
        else:
            _run_pool(work, ctx, workers, on_result)

    return close_run(result, plans, layout, config, ctx, described, config_hash, t0)


def close_run(result, plans, layout, config, ctx, described, config_hash, t0) -> ScanResult:
    """Totals over every shard (finished now or earlier) and the final run.json; both engines."""
    for p in plans:
        if p.done:
            result.skipped_shards += 1
            result.shards.append(json.loads(layout.stats(p.shard.shard_id).read_text()))
    result.shards.sort(key=lambda s: s["shard_id"])
    for s in result.shards:
        result.rows += s["rows"]
        for k, v in s["risk_counts"].items():
            result.risk_counts[k] = result.risk_counts.get(k, 0) + v
        for k, v in s.get("row_errors", {}).items():
            result.row_errors[k] = result.row_errors.get(k, 0) + v
    result.seconds = time.perf_counter() - t0
    status = "finished" if result.ok else "finished_with_errors"
    write_run_json(layout, config, ctx, described, config_hash, plans, status, result)
    return result


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
    sys.stderr.flush()
