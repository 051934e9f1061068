"""tools/heldout_eval.py: audit rows stand for every row the screen did not pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("heldout_eval", ROOT / "tools" / "heldout_eval.py")
he = importlib.util.module_from_spec(spec)
spec.loader.exec_module(he)


def test_figures_weigh_audit_rows_by_the_rows_they_stand_for() -> None:
    # 4 screened rows (all labelled), 96 unscreened of which 2 audited; one audited row is a
    # minor the screen missed, so it stands for 96 / 2 = 48 minors
    sel = ["candidate"] * 4 + ["audit"] * 2 + [None] * 94
    label = ["identifiable_child", "child", "none", "none", "child", "none"] + [None] * 94
    risk = ["identifiable_child", "child", "identifiable_child", "none"] + ["none"] * 96
    f = he.figures(pl.DataFrame({"sel": sel, "label": label, "risk": risk}))
    assert f["rows"] == 100
    assert f["flagged %"] == pytest.approx(3.0)
    assert f["identifiable %"] == pytest.approx(2.0)
    assert f["identifiable P"] == pytest.approx(0.5)
    assert f["identifiable R"] == pytest.approx(1.0)
    assert f["any minor P"] == pytest.approx(2 / 3)
    assert f["minors % (est.)"] == pytest.approx(50.0)  # 2 screened + 48 unscreened
    assert f["any minor R"] == pytest.approx(2 / 50)
    assert f["screen recall (minor)"] == pytest.approx(2 / 50)
