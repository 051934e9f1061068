"""Detectors: each module registers one detector with the registry on import."""

from childguard.detect.base import (
    REGISTRY,
    Detector,
    DetectorError,
    Example,
    Resources,
    register,
)

__all__ = ["REGISTRY", "Detector", "DetectorError", "Example", "Resources", "register"]


def load_builtin() -> None:
    """Import the built-in detector modules so they register themselves."""
    import importlib
    import pkgutil

    import childguard.detect as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_") or mod.name in {"base", "textnorm", "lexicon", "signals"}:
            continue
        importlib.import_module(f"childguard.detect.{mod.name}")
