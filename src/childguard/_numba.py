"""numba, imported for childguard's kernels without SciPy's linear algebra.

The first kernel a process loads initialises numba's CPU target, which imports
`numba.np.arraymath`; that module probes for a BLAS by importing `scipy.linalg` (~0.2 s of
every scan process's start-up, SciPy being installed for scikit-learn). childguard's kernels
(text normalisation, word split, word lookup, PDQ search) call no BLAS routine, so the probe is
answered "none" here; SciPy itself stays importable afterwards (`childguard train` imports
it). Where `scipy.linalg` is already imported the probe finds it as before.
"""

from __future__ import annotations

import sys


def _import_without_blas_probe():
    import numba

    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return numba
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # the import then fails
    try:
        import numba.np.arraymath
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
    return numba


nb = _import_without_blas_probe()
