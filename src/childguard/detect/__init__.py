"""Detectors: each module registers one detector with the registry on import."""

from childguard.detect.base import (
    REGISTRY,
    Detector,
    DetectorError,
    Example,
    Resources,
    register,
)
from childguard.detect.context import BatchContext
from childguard.detect.output import check_output, detector_output

__all__ = [
    "REGISTRY",
    "BatchContext",
    "Detector",
    "DetectorError",
    "Example",
    "Resources",
    "check_output",
    "detector_output",
    "register",
]


def load_builtin() -> None:
    """Import the built-in detector modules so they register themselves."""
    import importlib
    import pkgutil

    import childguard.detect as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_") or mod.name in {"base", "textnorm", "lexicon", "signals", "screen", "context", "output"}:
            continue
        importlib.import_module(f"childguard.detect.{mod.name}")
