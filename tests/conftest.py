"""Shared fixtures: synthetic shards in every supported format and convention."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen import make_rows

sys.path.insert(0, str(Path(__file__).parent / "engine"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


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


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--fuzz-long", action="store_true", default=False, help="ten times more fuzzed shards"
    )
