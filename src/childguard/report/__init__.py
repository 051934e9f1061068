"""`childguard report`: what a scan found, with plots, redacted examples and prevalence estimates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from childguard.report.audit import ReportError
    from childguard.report.build import ReportResult, build_report

__all__ = ["ReportError", "ReportResult", "build_report"]

# imported on first use: `childguard.cli` loads `report.commands` for every command, and the
# report's modules (pyarrow, polars, the formats) would cost every `--help` ~0.6 s
_LAZY = {
    "ReportError": "childguard.report.audit",
    "ReportResult": "childguard.report.build",
    "build_report": "childguard.report.build",
}


def __getattr__(name: str) -> Any:
    """The re-exported names, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
