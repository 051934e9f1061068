"""childguard's kernels load without numba's BLAS probe importing SciPy's linear algebra
(~0.2 s CPU of every scan worker's start-up), and SciPy stays importable afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import sys
from childguard.detect import textnorm
textnorm.warm_compiled()  # every kernel a scan loads
print("LINALG" if "scipy.linalg" in sys.modules else "NO-LINALG")
import scipy.linalg
print(scipy.linalg.det([[2.0, 0.0], [0.0, 3.0]]))
"""


def test_kernels_load_without_scipy_linalg() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    probe, det = out.stdout.strip().splitlines()[-2:]
    assert probe == "NO-LINALG"
    assert float(det) == pytest.approx(6.0)


def test_probe_left_alone_when_linalg_is_loaded() -> None:
    script = (
        "import scipy.linalg, sys\n"
        "from childguard._numba import nb\n"
        "import numba.np.arraymath as am\n"
        "print(am._HAVE_BLAS)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"
