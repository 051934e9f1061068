"""Test detectors for the engine tests, loaded as a scan plugin (`plugins=["cg_ray_probe"]`).

They score like a tiny caption detector (vectorised, deterministic) and can misbehave on demand:
`kill_once` (a path) SIGKILLs the worker process the first time it reaches `kill_row`, to test
retries; `delay` sleeps per batch and `log_dir` records every batch processed, to test resume.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from childguard.detect.base import Detector, DetectorOptions, Example, Resources, register


class ProbeOptions(DetectorOptions):
    """How the probe misbehaves (all off by default)."""

    kill_once: str | None = None
    kill_row: int = 0
    delay: float = 0.0
    log_dir: str | None = None


@register
class RayProbe(Detector):
    name = "ray_probe"
    version = "1"
    resources = Resources(num_cpus=1.0, stateful=False)
    Options = ProbeOptions

    def score(self, batch: pa.Table) -> pa.Table:
        self._misbehave(batch)
        text = pc.utf8_lower(pc.fill_null(batch.column("text"), ""))
        kid = pc.match_substring(text, "kid")
        digit = pc.match_substring_regex(text, r"\d")
        score = pc.if_else(kid, pc.if_else(digit, 1.0, 0.6), 0.0).cast(pa.float64())
        evidence = pc.if_else(kid, pa.scalar("k. (kid)"), pa.scalar(None, pa.string()))
        return pa.table({self.col("score"): score, self.col("evidence"): evidence})

    @staticmethod
    def examples() -> list[Example]:
        return [Example("a kid of 5"), Example("a kid", fires=True), Example("a dog", fires=False)]

    def _misbehave(self, batch: pa.Table) -> None:
        if not batch.num_rows:
            return
        opts = self.opts
        assert isinstance(opts, ProbeOptions)
        first = batch.column("row_index")[0].as_py()
        if opts.log_dir:
            shard = (batch.schema.metadata or {}).get(b"childguard.shard_id", b"?").decode()
            log = Path(opts.log_dir)
            log.mkdir(parents=True, exist_ok=True)
            (log / f"{shard}@{first}@{uuid.uuid4().hex[:6]}").touch()
        if opts.delay:
            time.sleep(opts.delay)
        kill = opts.kill_once
        last = batch.column("row_index")[-1].as_py()
        if kill and first <= opts.kill_row <= last:
            try:
                fd = os.open(str(kill), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


@register
class RayProbeModel(RayProbe):
    """The same scores from a 'model' that loads once per worker: runs in an actor pool."""

    name = "ray_probe_model"
    version = "1"
    resources = Resources(num_cpus=1.0, memory_mb=64, stateful=True)

    def setup(self) -> None:
        self.loaded_in = os.getpid()
