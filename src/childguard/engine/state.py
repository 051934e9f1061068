"""The output folder's layout and the completion markers that make a scan resumable.

    OUT/run.json                       tool version, config, policy, detectors, inputs
    OUT/findings/<shard-id>.parquet    non-clean rows of a finished shard
    OUT/stats/<shard-id>.json          per-shard counts; status "ok" marks the shard finished
    OUT/errors/<shard-id>.parquet      rows a detector could not check (only when there are any)
    OUT/_state/<shard-id>/task-N.parquet + task-N.done.json   per-task parts while in progress

Order of writes makes every crash point safe: a task's part is written before its marker; a
shard's findings before its stats; parts are deleted only after the stats. Every write is atomic.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from childguard.formats import FormatError
from childguard.formats.markers import TaskMarker
from childguard.formats.stats import ShardStats
from childguard.io.atomic import write_parquet_atomic


@dataclass(frozen=True)
class OutLayout:
    """Paths under a scan's output folder, with the markers that make it resumable."""
    root: Path

    @property
    def run_json(self) -> Path:
        """Path of `run.json`, the scan's record of config, policy and detectors."""
        return self.root / "run.json"

    def findings(self, shard_id: str) -> Path:
        """Path of a finished shard's findings parquet."""
        return self.root / "findings" / f"{shard_id}.parquet"

    def errors(self, shard_id: str) -> Path:
        """Path of a shard's row-errors parquet (rows a detector could not check)."""
        return self.root / "errors" / f"{shard_id}.parquet"

    def stats(self, shard_id: str) -> Path:
        """Path of a shard's stats JSON (status "ok" marks the shard finished)."""
        return self.root / "stats" / f"{shard_id}.json"

    def state_dir(self, shard_id: str) -> Path:
        """Folder of a shard's per-task parts and markers while it is in progress."""
        return self.root / "_state" / shard_id

    def part(self, shard_id: str, task: int) -> Path:
        """Path of one task's findings part."""
        return self.state_dir(shard_id) / f"task-{task:06d}.parquet"

    def part_errors(self, shard_id: str, task: int) -> Path:
        """Path of one task's row-errors part."""
        return self.state_dir(shard_id) / f"task-{task:06d}.errors.parquet"

    def marker(self, shard_id: str, task: int) -> Path:
        """Path of one task's completion marker (`task-N.done.json`)."""
        return self.state_dir(shard_id) / f"task-{task:06d}.done.json"

    # ---------------------------------------------------------------------------------------
    def shard_done(self, shard_id: str) -> bool:
        """True when the shard has findings and readable stats with status "ok"."""
        p = self.stats(shard_id)
        if not p.exists() or not self.findings(shard_id).exists():
            return False
        try:
            return ShardStats.read(p).ok
        except FormatError:
            return False  # unreadable stats: the shard is scanned again

    def task_done(self, shard_id: str, task: int) -> TaskMarker | None:
        """A task's marker when marker and part both exist and the marker reads, else None."""
        m, part = self.marker(shard_id, task), self.part(shard_id, task)
        if not (m.exists() and part.exists()):
            return None
        try:
            return TaskMarker.read(m)
        except FormatError:
            return None  # the task runs again

    def write_task(
        self,
        shard_id: str,
        task: int,
        findings: pa.Table,
        marker: TaskMarker,
        errors: pa.Table | None = None,
    ) -> None:
        """Write a task's errors part, findings part, then its marker (all atomic)."""
        if errors is not None and errors.num_rows:
            write_parquet_atomic(self.part_errors(shard_id, task), errors)
        write_parquet_atomic(self.part(shard_id, task), findings)
        marker.write(self.marker(shard_id, task))

    def read_part_errors(self, shard_id: str, task: int) -> pa.Table | None:
        """One task's row-errors part, or None when it had none."""
        p = self.part_errors(shard_id, task)
        return read_table(p) if p.exists() else None

    def read_part(self, shard_id: str, task: int) -> pa.Table:
        """One task's findings part."""
        return read_table(self.part(shard_id, task))

    def clear_state(self, shard_id: str) -> None:
        """Delete a shard's in-progress parts and markers."""
        shutil.rmtree(self.state_dir(shard_id), ignore_errors=True)

    def wipe(self) -> None:
        """Delete every scan output (findings, stats, errors, state, run.json)."""
        for sub in ("findings", "stats", "errors", "_state"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        self.run_json.unlink(missing_ok=True)


def read_table(path: Path) -> pa.Table:
    """One parquet file whole (`pq.read_table` goes through pyarrow.dataset, whose import
    pulls in pandas: 0.25 s per process)."""
    with pq.ParquetFile(path) as f:
        return f.read()
