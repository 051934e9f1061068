"""Words the scan prints: its last progress line and its summary agree on tasks, shards, rows,
time and rate; a failed shard's path is printed once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from childguard.scan_cli import demo_sample_dir

from datagen import cli_cmd


def test_last_progress_line_and_summary_agree(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_sample_dir(), data)
    (data / "broken.parquet").write_bytes(b"PAR1 garbage PAR1")
    pq.write_table(pa.table({"foo": ["a"]}), data / "nocols.parquet")
    (data / "cut.jsonl").write_text('{"url": "http://a.example/b", "text": "x"}\n{"url": "ht')
    proc = subprocess.run(
        cli_cmd("scan", data, "--out", tmp_path / "audit", "--workers", "1"),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CHILDGUARD_HOME": str(tmp_path / "home"), "COLUMNS": "80"},
    )
    assert proc.returncode == 1, proc.stderr
    done = [x for x in proc.stderr.splitlines() if x.startswith("scan done:")]
    assert len(done) == 1, proc.stderr
    m = re.match(
        r"scan done: (\d+)/\d+ tasks of (\d+) shard\(s\), ([\d,]+) rows, ([\d,]+) rows/s, "
        r"([\d.]+) s",
        done[0],
    )
    assert m, done[0]
    tasks, shards, rows, rate, secs = m.groups()
    summary = " ".join(proc.stdout.split())
    assert f"({tasks} task(s))" in summary
    assert f": {rows} rows in {secs} s ({rate} rows/s)" in summary
    assert int(shards) == 4 and "3 shard(s) scanned" in summary  # the 4th failed mid-read
    failed = [x for x in proc.stderr.splitlines() if x.startswith("FAILED")]
    assert len(failed) == 3
    for line in failed:
        path = line.split()[1].rstrip(":,")
        assert line.count(path) == 1, line
