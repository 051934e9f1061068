"""A scan process does not import pandas (0.15-0.25 s of fixed cost per worker process), nor
the report or the web service (their command modules only: `tests/test_cli_imports.py`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

SCRIPT = """
import sys
from childguard.cli import app
sys.argv = ["childguard", "scan", sys.argv[1], "--out", sys.argv[2], "--workers", "1"]
try:
    app()
except SystemExit as e:
    assert not e.code, e.code
areas = ("childguard.report.", "childguard.web.")
extra = sorted(m for m in sys.modules if m.startswith(areas) and not m.endswith(".commands"))
print("UNNEEDED", *extra)
print("PANDAS" if "pandas" in sys.modules else "NO-PANDAS")
print("BAR" if "rich.progress" in sys.modules else "NO-BAR")
"""


def test_scan_does_not_import_pandas(tmp_path) -> None:
    src = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table(
            {
                "url": ["https://x.com/festa-5-anos-lucas.jpg", "https://a.b/c.jpg"],
                "caption": ["meu filho Lucas, 5 anos, na Escola Pequeno Mundo", "Sunset"],
            }
        ),
        src,
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(src), str(tmp_path / "audit")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    *_, unneeded, pandas, bar = out.stdout.strip().splitlines()
    assert pandas == "NO-PANDAS"
    assert unneeded == "UNNEEDED"
    assert bar == "NO-BAR"  # not on a terminal: log lines, no rich bar imported


def _scan(src, out, cache) -> None:
    env = {**os.environ, "CHILDGUARD_CACHE": str(cache)}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(src), str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]


def test_a_second_process_reads_what_the_first_built(tmp_path) -> None:
    src = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table(
            {
                "url": ["https://x.com/festa-5-anos-lucas.jpg", "https://a.b/c.jpg"],
                "caption": ["meu filho Lucas, 5 anos, na Escola Pequeno Mundo", "Sunset"],
            }
        ),
        src,
    )
    cache = tmp_path / "cache"
    _scan(src, tmp_path / "a", cache)
    stored = sorted(cache.rglob("*.hsdb")) + sorted(cache.rglob("word_lookup-*.arrow"))
    from childguard.detect import screen

    # the screen's databases where the hyperscan wheel is installed, the scorer's look-up always
    assert any(p.suffix == ".hsdb" for p in stored) == (screen._hs is not None)
    assert stored[-1].suffix == ".arrow"
    before = {p: p.stat().st_mtime_ns for p in stored}
    _scan(src, tmp_path / "b", cache)
    # read back, not built and written again; and the same findings either way
    assert {p: p.stat().st_mtime_ns for p in stored} == before
    assert sorted(cache.rglob("*.hsdb")) + sorted(cache.rglob("word_lookup-*.arrow")) == stored
    a = sorted((tmp_path / "a" / "findings").glob("*.parquet"))
    b = sorted((tmp_path / "b" / "findings").glob("*.parquet"))
    assert a and [p.name for p in a] == [p.name for p in b]
    for pa_, pb in zip(a, b, strict=True):
        assert pq.read_table(pa_).equals(pq.read_table(pb))


def test_workers_start_early_only_where_more_than_one_task_may_come(tmp_path) -> None:
    from childguard.scan_cli import _ONE_TASK_BYTES, _more_than_one_task

    small = tmp_path / "small.parquet"
    pq.write_table(pa.table({"url": ["https://x.example/a.jpg"], "text": ["a"]}), small)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * _ONE_TASK_BYTES)
    # one small local file is one task: it runs in the caller, no worker is spawned for it
    assert not _more_than_one_task([str(small)])
    assert _more_than_one_task([str(big)])
    assert _more_than_one_task([str(small), str(small)])
    assert _more_than_one_task([str(tmp_path)])  # a folder: its files are listed later
    assert _more_than_one_task(["s3://bucket/part-*.parquet"])  # remote: not looked at here
    assert _more_than_one_task([str(tmp_path / "missing.parquet")])  # the scan reports it
