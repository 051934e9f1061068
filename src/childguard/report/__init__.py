"""`childguard report`: what a scan found, with plots, redacted examples and prevalence estimates."""

from childguard.report.audit import ReportError
from childguard.report.build import ReportResult, build_report

__all__ = ["ReportError", "ReportResult", "build_report"]
