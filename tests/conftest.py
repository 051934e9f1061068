"""Shared fixtures: synthetic shards in every supported format and convention."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

sys.path.insert(0, str(Path(__file__).parent / "engine"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def make_rows(n: int, start: int = 0) -> list[tuple[str, str]]:
    """Deterministic rows; every 7th mentions a girl, every 50th a school."""
    rows = []
    for i in range(start, start + n):
        if i % 50 == 0:
            text = f"girl at school number {i}"
        elif i % 7 == 0:
            text = f"little girl with kite {i}"
        else:
            text = f"mountain landscape {i}"
        rows.append((f"https://example.org/img/{i}.jpg", text))
    return rows


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    from kw_plugin import POLICY

    p = tmp_path / "policy.toml"
    p.write_text(POLICY)
    return p


@pytest.fixture
def laion_parquet(tmp_path: Path) -> Path:
    rows = make_rows(1000)
    p = tmp_path / "data" / "laion" / "part-00000.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "URL": [u for u, _ in rows],
                "TEXT": [t for _, t in rows],
                "LANGUAGE": ["en"] * len(rows),
                "hash": pa.array(range(len(rows)), pa.int64()),
            }
        ),
        p,
        row_group_size=300,
    )
    return p


def write_jsonl(path: Path, records: list[dict], compression: str | None = None) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if compression == "gzip":
        data = gzip.compress(data, mtime=0)
    elif compression == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
