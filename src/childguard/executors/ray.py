"""The Ray executor: jobs as Ray Data tasks (or an actor pool), on one machine or a cluster.

- One block per job, so Ray spreads jobs and retries them one by one. A job whose worker
  died runs again (`RetryPolicy.worker_deaths`: `max_retries` for tasks,
  `max_restarts`/`max_task_retries` for actors); Ray Data's own default retries forever.
- State: an actor pool (`Resources.stateful`, or a GPU) builds `setup(payload)` once per actor;
  plain tasks build it once per worker process (Ray reuses them), cached by payload digest.
- Threads: each worker's Polars and Arrow pools get the CPUs the worker holds.
- Workers write where the steps write (`--out`, a release's temp folder, apply's targets), so
  on a cluster those must be one filesystem every node mounts at the same path:
  `check_shared` probes it from every node before any work.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import socket
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray  # ImportError here is what `--engine ray` reports when the extra is missing
import ray.data

from childguard.executors.base import (
    DEFAULT_RETRY,
    Executor,
    RetryPolicy,
    Setup,
    Step,
    call_job,
    rebuild_error,
    threads_per_worker,
)
from childguard.io.atomic import write_bytes_atomic
from childguard.io.paths import InputError

_TAKES_REMOTE_ARGS = any(
    p.kind is inspect.Parameter.VAR_KEYWORD
    for p in inspect.signature(ray.data.Dataset.map_batches).parameters.values()
)
_RESULT = pa.schema([("i", pa.int64()), ("result", pa.binary())])


@dataclass(frozen=True)
class Resources:
    """What one worker holds: CPUs, GPU fraction, memory; stateful = an actor pool."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int = 0  # bytes, 0 when undeclared
    stateful: bool = False


class RayUnreachable(InputError):
    """--ray-address names no reachable cluster."""


class OutNotShared(InputError):
    """A folder workers write to is not the same folder on every node."""


# ------------------------------------------------------------------------------------------
# worker side

# per worker process: payload digest -> state (plain tasks; Ray reuses worker processes)
_STATE: dict[str, Any] = {}


def _limit_threads(num_cpus: float) -> None:
    import pyarrow

    pyarrow.set_cpu_count(threads_per_worker(1, num_cpus))


def _run_jobs(batch: pa.Table, fn: Step, state: Any) -> pa.Table:
    ids, out = batch.column("i").to_pylist(), []
    for blob in batch.column("job").to_pylist():
        out.append(pickle.dumps(call_job(fn, state, pickle.loads(blob))))
    return pa.table({"i": pa.array(ids, pa.int64()), "result": out}, schema=_RESULT)


def run_stateless(
    batch: pa.Table, fn: Step, blob: bytes, setup: Setup | None, num_cpus: float
) -> pa.Table:
    """Ray task body: run a batch of jobs, building the state once per worker process."""
    key = hashlib.sha256(blob).hexdigest()
    if key not in _STATE:
        _limit_threads(num_cpus)
        payload = pickle.loads(blob)
        _STATE.clear()
        _STATE[key] = setup(payload) if setup is not None else payload
    return _run_jobs(batch, fn, _STATE[key])


class JobActor:
    """Actor-pool worker: builds the state once in `__init__`, then runs jobs."""

    def __init__(self, fn: Step, blob: bytes, setup: Setup | None, num_cpus: float) -> None:
        _limit_threads(num_cpus)
        payload = pickle.loads(blob)
        self.fn = fn
        self.state = setup(payload) if setup is not None else payload

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _run_jobs(batch, self.fn, self.state)


# ------------------------------------------------------------------------------------------
# driver side


class RayExecutor(Executor):
    """Maps steps over Ray Data; joins (or starts, then stops) Ray on entering."""

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        resources: Resources | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        lazy: bool = False,
    ) -> None:
        self.lazy = lazy  # connect at the first job (a scan with nothing to do starts no Ray)
        self.address = address
        self.requested = workers  # None: as many as the cluster holds
        self.resources = resources or Resources()
        self.retry = retry
        self._started = False

    @property
    def workers(self) -> int:  # type: ignore[override]
        """Workers at once: the number asked for, else what the cluster's CPUs/GPUs hold."""
        if self.requested:
            return self.requested
        if not ray.is_initialized():
            return 1
        res, spec = ray.cluster_resources(), self.resources
        cap = int(res.get("CPU", 1.0) // max(spec.num_cpus, 1e-3))
        if spec.num_gpus > 0 and res.get("GPU"):
            cap = min(cap, int(res["GPU"] // spec.num_gpus))
        return max(1, cap)

    def __enter__(self) -> RayExecutor:
        if not self.lazy:
            self.connect()
        return self

    def connect(self) -> None:
        """Join the cluster at `address` ("auto", "ray://host:port", "host:port"), or start a
        local Ray with `workers` CPUs; stopped by `close` only when started here."""
        if ray.is_initialized():
            return
        kwargs: dict = {"include_dashboard": False, "log_to_driver": True}
        if not self.address:
            ray.init(num_cpus=self.requested, **kwargs)
        else:
            probe(self.address)
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise RayUnreachable(
                    f"cannot join the Ray cluster at {self.address!r}: {e}"
                ) from None
        self._started = True

    def close(self) -> None:
        """Shut Ray down when this executor started it."""
        if self._started:
            self._started = False
            ray.shutdown()

    def check_shared(self, folder: Path) -> None:
        """Every node with CPUs sees `folder` (a probe file the driver writes), else fail."""
        self.connect()
        check_shared_out(folder)

    def map_unordered(
        self, fn: Step, jobs: Sequence[tuple], payload: Any = None, setup: Setup | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(index, result) per job as it finishes; see `Executor.map_unordered`."""
        if not jobs:
            return
        self.connect()
        data_ctx = ray.data.DataContext.get_current()
        data_ctx.enable_progress_bars = False
        data_ctx.execution_options.preserve_order = False
        items = [{"i": i, "job": pickle.dumps(job)} for i, job in enumerate(jobs)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        spec, size = self.resources, max(1, min(self.workers, len(items)))
        blob = pickle.dumps(payload)
        common: dict[str, Any] = {
            "batch_size": 1,
            "batch_format": "pyarrow",
            "zero_copy_batch": True,
            "num_cpus": spec.num_cpus,
            # one Polars pool per CPU the worker holds, or every worker starts one per core
            "runtime_env": {
                "env_vars": {"POLARS_MAX_THREADS": str(threads_per_worker(1, spec.num_cpus))}
            },
        }
        if spec.num_gpus:
            common["num_gpus"] = spec.num_gpus
        if spec.memory:
            common["memory"] = spec.memory
        n = self.retry.worker_deaths
        if spec.stateful or spec.num_gpus:
            compute: dict[str, Any] = {"compute": ray.data.ActorPoolStrategy(size=size)}
            retries = {"max_restarts": n, "max_task_retries": n}
            body: Any = JobActor
            args: dict[str, Any] = {"fn_constructor_args": (fn, blob, setup, spec.num_cpus)}
        else:
            compute = (
                {"compute": ray.data.TaskPoolStrategy(size=size)}
                if hasattr(ray.data, "TaskPoolStrategy")
                else {"concurrency": size}  # older Ray Data
            )
            retries = {"max_retries": n}
            body, args = run_stateless, {"fn_args": (fn, blob, setup, spec.num_cpus)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # extra remote args
            mapped = ds.map_batches(
                body,
                **compute,
                **args,
                **common,
                **(retries if _TAKES_REMOTE_ARGS else {}),
            )
        error: BaseException | None = None
        # after an error, jobs under way finish (they may be writing into a folder the
        # caller deletes when it sees the error), then the first error is raised
        for out in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
            for i, res in zip(
                out.column("i").to_pylist(), out.column("result").to_pylist(), strict=True
            ):
                ok, value = pickle.loads(res)
                if not ok:
                    error = error or rebuild_error(*value)
                elif error is None:
                    yield i, value
        if error is not None:
            raise error


# ------------------------------------------------------------------------------------------
# the cluster


@ray.remote(num_cpus=0)
def _sees(path: str) -> tuple[str, bool]:
    import socket

    return socket.gethostname(), os.path.exists(path)


def check_shared_out(out: Path) -> None:
    """Fail before any work when a node cannot see the driver's folder `out`.

    Workers write task parts and markers (or release shards, purged files) there and the
    driver reads them, so on a multi-node cluster (or through a ray:// client) it must be one
    shared filesystem mounted at the same path everywhere. One tiny task per node reads a
    probe file the driver wrote."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]
    here = ray.get_runtime_context().get_node_id()
    if all(n["NodeID"] == here for n in nodes) and not _through_client():
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe_file = out / f".childguard-probe-{uuid.uuid4().hex}"
    write_bytes_atomic(probe_file, b"childguard\n")
    try:
        refs = [
            _sees.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe_file))
            for n in nodes
        ]
        seen = ray.get(refs, timeout=300)
    finally:
        probe_file.unlink(missing_ok=True)
    blind = sorted(host for host, ok in seen if not ok)
    if blind:
        raise OutNotShared(
            f"--out {out} is not visible from node(s) {', '.join(blind)}: workers write "
            "there, so it must be a filesystem every node (and the driver) mounts at the "
            "same path; see docs/cluster.md"
        )


def _through_client() -> bool:
    """Connected with ray://: the driver is not on any node, so even one node is checked."""
    try:
        from ray.util.client import ray as client

        return bool(client.is_connected())
    except (ImportError, AttributeError):
        return False


def probe(address: str) -> None:
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


__all__ = [
    "JobActor",
    "OutNotShared",
    "RayExecutor",
    "RayUnreachable",
    "Resources",
    "check_shared_out",
    "probe",
    "run_stateless",
]
