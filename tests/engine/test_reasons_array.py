"""Findings' reasons column: built a field at a time, equal to Arrow's own conversion of the
per-row reason dicts (empty rows, missing evidence, non-ASCII text, no rows)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from childguard.engine.batch import _reasons_array
from childguard.policy import REASON_TYPE


def _reason(det: str, evidence: str | None = None, score: float = 0.5) -> dict:
    return {
        "detector": det, "version": "1", "label": det, "score": score, "threshold": 0.5,
        "evidence": evidence,
    }  # fmt: skip


CASES = [
    [],
    [[]],
    [[_reason("names", "name:L. context:filho")], [], [_reason("ages"), _reason("são", "é", 1.0)]],
    [[_reason("scorer", "p_id=0.91")]] * 5,
]


@pytest.mark.parametrize("reasons", CASES, ids=["none", "one-empty", "mixed", "repeated"])
def test_same_as_arrows_conversion(reasons: list[list[dict]]) -> None:
    # as `Policy.reason_columns` gives them: each reason's row (sorted), fields as columns
    row = np.array([r for r, rs in enumerate(reasons) for _ in rs], np.int64)
    cols = {f.name: [x[f.name] for rs in reasons for x in rs] for f in REASON_TYPE}
    got = _reasons_array(len(reasons), row, cols)
    assert got.type == pa.list_(REASON_TYPE)
    assert got.to_pylist() == reasons
    assert got.equals(pa.array(reasons, pa.list_(REASON_TYPE)))  # (imports pandas: tests only)
