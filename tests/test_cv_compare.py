"""tools/cv_compare.py: per-seed figures split real rows from LAION rows and drop what is not
scored; the mean line averages seeds and skips empty subsets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("cv_compare", ROOT / "tools" / "cv_compare.py")
cv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cv)


def test_seed_figures_by_subset() -> None:
    labels = np.array(["identifiable_child", "none", "child", "identifiable_child", "none", "none"])
    sources = np.array(["web-alt", "redcaps/aww", "web-alt", "laion2b-en", "laion2b-en", "web-alt"])
    scored = np.array([True, True, True, True, True, False])  # the last: AMBIG, not scored
    p_id = np.array([0.9, 0.2, 0.1, 0.05, 0.5, 0.99])
    p_minor = np.array([0.9, 0.3, 0.6, 0.4, 0.5, 0.99])
    f = cv.seed_figures(labels, sources, scored, p_id, p_minor)
    assert f["id_real"] == pytest.approx(1.0)  # the one identifiable real row ranks first
    assert f["id_laion"] == pytest.approx(0.5)  # ranked below the LAION negative
    # at 0.12: rows 0, 1 and 4 flagged (row 5 is not scored); one of them identifiable
    assert f["P"] == pytest.approx(1 / 3) and f["R"] == pytest.approx(1 / 2)
    # a subset without positives gives NaN, which the mean line skips
    g = cv.seed_figures(labels, np.array(["web-alt"] * 6), scored, p_id, p_minor)
    assert np.isnan(g["id_laion"])
    assert g["id_real"] == pytest.approx((1 + 2 / 5) / 2)  # both identifiable rows are real now
    line = cv.mean_line("t", [f, g])
    assert "idAP real 0.850 laion 0.500" in line and "(2 seeds)" in line
