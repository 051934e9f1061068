"""The Ray executor: the local engine's plan of (shard, row group) tasks, run by Ray Data.

Same plan, same per-task function, same outputs: the driver plans shards exactly like the local
engine (`plan_shard`), Ray Data maps `childguard.engine.tasks.run_task` over a dataset of task
descriptors, and the driver merges each finished shard with `finalize_shard`. So one input gives
byte-identical findings on both engines, and the two engines can resume each other's runs.

- Detectors that declare `Resources(stateful=True)` or a GPU (models) run in an actor pool: the
  detectors are built once per actor in `__init__`. Stateless ones run as plain Ray tasks, with
  the detectors cached per worker process (Ray reuses worker processes).
- Fault tolerance: a killed worker's task is retried by Ray (`max_retries` for tasks,
  `max_restarts`/`max_task_retries` for actors). A task writes its part then its marker
  atomically, and a task whose marker exists is skipped, so retries are idempotent and every row
  is counted once. After a driver crash, a re-run reuses every task that has a marker.
- Workers write under `--out` directly, so on a cluster `--out` must be a filesystem every node
  mounts at the same path (see docs/cluster.md).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import socket
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import ray  # ImportError here is what `--engine ray` reports when the extra is missing
import ray.data

from childguard.config import ScanConfig
from childguard.detect.base import Detector
from childguard.engine.run import ScanResult, ScanRun
from childguard.engine.tasks import (
    ScanContext,
    TaskResult,
    build_detectors,
    run_task,
)
from childguard.io.atomic import write_bytes_atomic
from childguard.io.paths import InputError
from childguard.io.readers import ShardInfo, Task
from childguard.policy import Policy

# Retries of a task whose worker died (OOM kill, preempted node, segfault in a model).
# Finite: a task that kills every worker it lands on must fail the run, not loop forever.
# (Ray Data's own default is to retry forever; it still takes these as extra remote args.)
TASK_RETRIES = 4
_TAKES_REMOTE_ARGS = any(
    p.kind is inspect.Parameter.VAR_KEYWORD
    for p in inspect.signature(ray.data.Dataset.map_batches).parameters.values()
)
RESULT_SCHEMA = pa.schema(
    [("shard_id", pa.string()), ("task", pa.int64()), ("result", pa.string())]
)


@dataclass(frozen=True)
class WorkerSpec:
    """How Ray should run the detectors, from their declared `Resources`."""

    stateful: bool  # actor pool (True) or tasks (False)
    num_cpus: float
    num_gpus: float
    memory: int  # bytes, 0 when undeclared

    @classmethod
    def from_detectors(cls, dets: list[Detector]) -> WorkerSpec:
        """Worker resources for running `dets` together (max CPUs, summed GPUs/memory)."""
        # an instance may refine its class's declaration (the images detector's `num_gpus`
        # option); the class attribute is the default
        res = [d.resources for d in dets]
        # detectors run one after the other in one process: CPUs are the max, not the sum;
        # GPU fractions and memory are held together, so they add up
        gpus = sum(r.num_gpus for r in res)
        return cls(
            stateful=any(r.stateful for r in res) or gpus > 0,
            num_cpus=max([r.num_cpus for r in res] or [1.0]),
            num_gpus=gpus,
            memory=sum(r.memory_mb for r in res) << 20,
        )


# ------------------------------------------------------------------------------------------
# worker side


def _run_items(batch: pa.Table, ctx: ScanContext, dets: list[Detector]) -> pa.Table:
    out = []
    for payload in batch.column("payload").to_pylist():
        info, task = pickle.loads(payload)
        out.append(_run_one(info, task, ctx, dets))
    return pa.Table.from_pylist(
        [{"shard_id": r.shard_id, "task": r.task, "result": json.dumps(asdict(r))} for r in out],
        schema=RESULT_SCHEMA,
    )


def _run_one(info: ShardInfo, task: Task, ctx: ScanContext, dets: list[Detector]) -> TaskResult:
    # A retry after the worker died between writing the marker and reporting back, or a task
    # another (killed) driver already finished: the marker is the result.
    marker = ctx.layout.task_done(info.shard.shard_id, task.index)
    if marker is not None:
        return TaskResult(
            info.shard.shard_id,
            task.index,
            marker["rows"],
            marker["risk_counts"],
            marker["seconds"],
            skipped=True,
        )
    return run_task(info, task, ctx, dets)


def _limit_threads(num_cpus: float) -> None:
    import pyarrow

    pyarrow.set_cpu_count(max(1, int(num_cpus)))


class TaskActor:
    """Actor-pool worker: builds and sets up the detectors once, then runs tasks."""

    def __init__(self, ctx: ScanContext, num_cpus: float) -> None:
        _limit_threads(num_cpus)
        self.ctx = ctx
        self.dets = build_detectors(ctx)
        for d in self.dets:
            d.ensure_setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _run_items(batch, self.ctx, self.dets)


# per worker process: context fingerprint -> (context, detectors), so stateless tasks build
# their detectors once per process rather than once per task
_TASK_CACHE: dict[str, tuple[ScanContext, list[Detector]]] = {}


def run_stateless(batch: pa.Table, ctx_blob: bytes, num_cpus: float) -> pa.Table:
    """Ray task body: run a batch of task payloads, building detectors once per process."""
    key = hashlib.sha256(ctx_blob).hexdigest()
    if key not in _TASK_CACHE:
        _limit_threads(num_cpus)
        ctx = pickle.loads(ctx_blob)
        dets = build_detectors(ctx)
        for d in dets:
            d.ensure_setup()
        _TASK_CACHE.clear()
        _TASK_CACHE[key] = (ctx, dets)
    ctx, dets = _TASK_CACHE[key]
    return _run_items(batch, ctx, dets)


# ------------------------------------------------------------------------------------------
# driver side


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address` ("auto", "ray://host:port", "host:port"), or start a
    local Ray. Returns True when this call started Ray (the caller shuts it down)."""
    if ray.is_initialized():
        return False
    kwargs: dict = {"include_dashboard": False, "log_to_driver": True}
    if not address:
        ray.init(num_cpus=num_cpus, **kwargs)
        return True
    _probe(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RayUnreachable(f"cannot join the Ray cluster at {address!r}: {e}") from None
    return True


class RayUnreachable(InputError):
    """--ray-address names no reachable cluster."""


class OutNotShared(InputError):
    """--out is not the same folder on every node (workers write their parts there)."""


@ray.remote(num_cpus=0)
def _sees(path: str) -> tuple[str, bool]:
    import socket

    return socket.gethostname(), os.path.exists(path)


def check_shared_out(out: Path) -> None:
    """Fail before any work when a node cannot see the driver's --out folder (or any folder
    workers write to: a release's temp directory, apply's targets).

    Workers write task parts and markers under --out and the driver merges them, so on a
    multi-node cluster (or through a ray:// client) it must be one shared filesystem mounted
    at the same path everywhere. One tiny task per node reads a probe file the driver wrote."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]
    here = ray.get_runtime_context().get_node_id()
    if all(n["NodeID"] == here for n in nodes) and not _through_client():
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = out / f".childguard-probe-{uuid.uuid4().hex}"
    write_bytes_atomic(probe, b"childguard\n")
    try:
        refs = [
            _sees.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe))
            for n in nodes
        ]
        seen = ray.get(refs, timeout=300)
    finally:
        probe.unlink(missing_ok=True)
    blind = sorted(host for host, ok in seen if not ok)
    if blind:
        raise OutNotShared(
            f"--out {out} is not visible from node(s) {', '.join(blind)}: workers write "
            "findings there, so it must be a filesystem every node (and the driver) mounts "
            "at the same path; see docs/cluster.md"
        )


def _through_client() -> bool:
    """Connected with ray://: the driver is not on any node, so even one node is checked."""
    try:
        from ray.util.client import ray as client

        return bool(client.is_connected())
    except (ImportError, AttributeError):
        return False


def _probe(address: str) -> None:
    """A quick TCP check of host:port: ray.init retries an unreachable address for minutes."""
    if address == "auto" or address.startswith("local"):
        return  # Ray itself looks the running cluster up and fails fast
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnreachable(
            f"--ray-address {address!r}: expected auto, host:port or ray://host:port"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise RayUnreachable(f"cannot join the Ray cluster at {address!r}: {e}") from None


def _concurrency(config: ScanConfig, spec: WorkerSpec, n_items: int) -> int:
    if "workers" in config.model_fields_set or not config.ray_address:
        cap = config.workers
    else:  # on a cluster the default is what the cluster holds, not the driver's cores
        cpus = ray.cluster_resources().get("CPU", 1.0)
        cap = int(cpus // max(spec.num_cpus, 1e-3))
        if spec.num_gpus > 0:
            gpus = ray.cluster_resources().get("GPU", 0.0)
            cap = min(cap, int(gpus // spec.num_gpus)) if gpus else cap
    return max(1, min(cap, n_items))


def _compute(stateful: bool, size: int) -> dict:
    """A fixed pool of `size` actors, or at most `size` tasks at once."""
    if stateful:
        return {"compute": ray.data.ActorPoolStrategy(size=size)}
    if hasattr(ray.data, "TaskPoolStrategy"):
        return {"compute": ray.data.TaskPoolStrategy(size=size)}
    return {"concurrency": size}  # older Ray Data


def _dataset(work: list[tuple[ShardInfo, Task]]) -> ray.data.Dataset:
    items = [{"payload": pickle.dumps((info, task))} for info, task in work]
    # one block per task, so Ray can spread tasks and retry them one by one
    return ray.data.from_items(items, override_num_blocks=len(items))


def execute(
    work: list[tuple[ShardInfo, Task]],
    ctx: ScanContext,
    spec: WorkerSpec,
    concurrency: int,
) -> Iterator[TaskResult]:
    """Run tasks on Ray Data; yield each task's result as it finishes (any order)."""
    if not work:
        return
    data_ctx = ray.data.DataContext.get_current()
    data_ctx.enable_progress_bars = False  # ScanProgress reports rows/s and ETA
    data_ctx.execution_options.preserve_order = False
    ds = _dataset(work)
    # one polars thread pool per CPU the worker holds, or every worker starts one per core
    threads = str(max(1, int(spec.num_cpus)))
    common = {
        "batch_size": 1,
        "batch_format": "pyarrow",
        "zero_copy_batch": True,
        "num_cpus": spec.num_cpus,
        "runtime_env": {"env_vars": {"POLARS_MAX_THREADS": threads}},
    }
    if spec.num_gpus:
        common["num_gpus"] = spec.num_gpus
    if spec.memory:
        common["memory"] = spec.memory
    if spec.stateful:
        retries = {"max_restarts": TASK_RETRIES, "max_task_retries": TASK_RETRIES}
        fn, args = TaskActor, {"fn_constructor_args": (ctx, spec.num_cpus)}
    else:
        retries = {"max_retries": TASK_RETRIES}
        fn, args = run_stateless, {"fn_args": (pickle.dumps(ctx), spec.num_cpus)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # extra remote args, see above
        mapped = ds.map_batches(
            fn,
            **_compute(spec.stateful, concurrency),
            **args,
            **common,
            **(retries if _TAKES_REMOTE_ARGS else {}),
        )
    for out in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
        for s in out.column("result").to_pylist():
            yield TaskResult(**json.loads(s))


def run_scan(
    config: ScanConfig,
    policy: Policy | None = None,
    *,
    restart: bool = False,
    progress: bool | None = None,
) -> ScanResult:
    """`childguard scan --engine ray`: same signature and outputs as the local engine."""
    if config.ray_address and not ray.is_initialized():
        _probe(config.ray_address)  # before anything is written under --out
    run = ScanRun(config, policy, restart=restart, progress=progress)
    work = run.work
    spec = WorkerSpec.from_detectors(run.dets)
    started = connect(config.ray_address, config.workers) if work else False
    try:
        with run:
            if work:
                check_shared_out(run.layout.root)
                conc = _concurrency(config, spec, len(work))
                for r in execute(work, run.ctx, spec, conc):
                    run.on_result(r)
    finally:
        if started:
            ray.shutdown()
    return run.close()


__all__ = [
    "TASK_RETRIES",
    "OutNotShared",
    "RayUnreachable",
    "WorkerSpec",
    "check_shared_out",
    "connect",
    "execute",
    "run_scan",
]
