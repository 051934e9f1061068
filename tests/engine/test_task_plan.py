"""A scan's task plan: small row groups share a task, and parts a different plan left behind
(a version that split the shard otherwise) are never taken for this plan's tasks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from childguard.engine.batch import empty_findings
from childguard.engine.tasks import ScanContext, plan_shard
from childguard.formats.markers import TaskMarker
from childguard.io.paths import expand_inputs
from childguard.policy import load_policy

from datagen import make_rows


def _shard(tmp_path: Path):
    rows = make_rows(1000)
    p = tmp_path / "part-00000.parquet"
    table = pa.table({"URL": [u for u, _ in rows], "TEXT": [t for _, t in rows]})
    pq.write_table(table, p, row_group_size=250)
    return expand_inputs([str(p)])[0]


def _marker(offset: int, rows: int) -> TaskMarker:
    return TaskMarker.new(
        rows=rows, risk_counts={"clean": rows}, seconds=0.1, row_offset=offset, row_errors={},
        facets={}, picture_checked=0,
    )  # fmt: skip


def test_row_groups_share_tasks_up_to_the_batch_size(tmp_path: Path) -> None:
    shard = _shard(tmp_path)
    ctx = ScanContext(str(tmp_path / "audit"), load_policy(), [], {}, 600)
    plan = plan_shard(shard, ctx)
    assert [(t.row_groups, t.row_offset, t.num_rows) for t in plan.pending] == [
        ([0, 1], 0, 500),
        ([2, 3], 500, 500),
    ]


def test_parts_of_another_plan_are_cleared(tmp_path: Path) -> None:
    shard = _shard(tmp_path)
    ctx = ScanContext(str(tmp_path / "audit"), load_policy(), [], {}, 600)
    layout = ctx.layout
    # task 1 done under this plan (rows 500-999): kept, only task 0 is pending
    layout.write_task(shard.shard_id, 1, empty_findings(), _marker(500, 500))
    assert [t.index for t in plan_shard(shard, ctx).pending] == [0]
    # a run of one task per row group left task 1 = rows 250-499: not this plan's task 1, so
    # every part of the shard goes and the whole shard is pending again
    layout.write_task(shard.shard_id, 1, empty_findings(), _marker(250, 250))
    plan = plan_shard(shard, ctx)
    assert [t.index for t in plan.pending] == [0, 1]
    assert not layout.state_dir(shard.shard_id).exists()
