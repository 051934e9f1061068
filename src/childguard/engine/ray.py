"""`childguard scan --engine ray`: the local engine's plan of (shard, row group) tasks on Ray.

Same plan, same per-task step, same outputs: the driver plans shards exactly like the local
engine (`ScanRun`), a `RayExecutor` maps `childguard.engine.tasks.scan_job` over the task
descriptors, and the driver merges each finished shard with `finalize_shard`. So one input
gives byte-identical findings on both engines, and the two can resume each other's runs.

- Detectors that declare `Resources(stateful=True)` or a GPU (models) run in an actor pool,
  built once per actor; stateless ones run as plain tasks, built once per worker process.
- A killed worker's task is retried (`RetryPolicy`); a task writes its part then its marker
  atomically, and `scan_job` returns an existing marker, so retries count every row once.
  After a driver crash, a re-run reuses every task that has a marker.
- Workers write under `--out` directly, so on a cluster `--out` must be a filesystem every
  node mounts at the same path (probed before any work; see docs/cluster.md).
"""

from __future__ import annotations

import ray  # ImportError here is what `--engine ray` reports when the extra is missing

from childguard.config import ScanConfig
from childguard.detect.base import Detector
from childguard.engine.local import scan_with
from childguard.engine.run import ScanResult, ScanRun
from childguard.executors.ray import (
    OutNotShared,
    RayExecutor,
    RayUnreachable,
    Resources,
    check_shared_out,
    probe,
)
from childguard.policy import Policy


def worker_resources(dets: list[Detector]) -> Resources:
    """What a worker running `dets` together holds (max CPUs, summed GPUs and memory)."""
    # an instance may refine its class's declaration (the images detector's `num_gpus` option)
    res = [d.resources for d in dets]
    # detectors run one after the other in one process: CPUs are the max, not the sum;
    # GPU fractions and memory are held together, so they add up
    gpus = sum(r.num_gpus for r in res)
    return Resources(
        num_cpus=max([r.num_cpus for r in res] or [1.0]),
        num_gpus=gpus,
        memory=sum(r.memory_mb for r in res) << 20,
        stateful=any(r.stateful for r in res) or gpus > 0,
    )


def run_scan(
    config: ScanConfig,
    policy: Policy | None = None,
    *,
    restart: bool = False,
    progress: bool | None = None,
) -> ScanResult:
    """`childguard scan --engine ray`: same signature and outputs as the local engine."""
    if config.ray_address and not ray.is_initialized():
        probe(config.ray_address)  # before anything is written under --out
    run = ScanRun(config, policy, restart=restart, progress=progress)
    # on a cluster the default is what the cluster holds, not the driver's cores
    explicit = "workers" in config.model_fields_set or not config.ray_address
    with RayExecutor(
        config.ray_address,
        config.workers if explicit else None,
        worker_resources(run.dets),
        lazy=True,
    ) as ex:
        return scan_with(run, ex)


__all__ = [
    "OutNotShared",
    "RayUnreachable",
    "check_shared_out",
    "run_scan",
    "worker_resources",
]
