"""The marketer report: one self-contained HTML file (English or Spanish) from scored customers."""

from clvml.reporting.i18n import LANGUAGES
from clvml.reporting.report import ReportInputs, build_report, load_report_inputs, write_report

__all__ = ["LANGUAGES", "ReportInputs", "build_report", "load_report_inputs", "write_report"]
