"""A scan process does not import pandas (0.15-0.25 s of fixed cost per worker process), nor
the report or the web service (their command modules only: `tests/test_cli_imports.py`)."""

from __future__ import annotations

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
    *_, unneeded, pandas = out.stdout.strip().splitlines()
    assert pandas == "NO-PANDAS"
    assert unneeded == "UNNEEDED"
