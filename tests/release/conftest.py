from __future__ import annotations

from pathlib import Path

import pytest

from release.helpers import (
    FLAGS,
    make_audit,
    write_csv,
    write_jsonl,
    write_laion_parquet,
    write_tsv,
)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Five shards, one per format/compression, with distinct URLs per shard."""
    d = tmp_path / "ds"
    write_laion_parquet(d / "a.parquet", 120, row_group=25, tag="a")
    write_csv(d / "b.csv.gz", 60, tag="b")
    write_csv(d / "c.csv", 30, header=False, tag="c")
    write_tsv(d / "d.tsv", 25, tag="d")
    write_jsonl(d / "e.jsonl.zst", 40, tag="e")
    return d


@pytest.fixture
def audit(tmp_path: Path, dataset: Path) -> tuple[Path, dict[str, str]]:
    a = tmp_path / "audit"
    ids = make_audit(a, [dataset], FLAGS)
    return a, ids
