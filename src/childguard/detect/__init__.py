"""Detectors: each module registers one detector with the registry on import."""

from childguard.detect.base import (
    LABELLED_OUTPUTS,
    REGISTRY,
    STANDARD_OUTPUTS,
    Detector,
    DetectorError,
    DetectorOptions,
    Example,
    Resources,
    register,
)
from childguard.detect.context import BatchContext
from childguard.detect.output import check_output, detector_output

__all__ = [
    "LABELLED_OUTPUTS",
    "REGISTRY",
    "STANDARD_OUTPUTS",
    "BatchContext",
    "Detector",
    "DetectorError",
    "DetectorOptions",
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
