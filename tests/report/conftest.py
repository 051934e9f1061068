from __future__ import annotations

from pathlib import Path

import pytest

from report.helpers import scan, write_sources


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[int]]]:
    """One real scan, shared by the tests that only read it: two good shards, one broken."""
    root = tmp_path_factory.mktemp("report")
    ids = write_sources(root / "src")
    scan(root / "src", root / "audit")
    return root / "audit", ids
