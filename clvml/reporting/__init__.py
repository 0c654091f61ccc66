"""The marketer report: one self-contained HTML file (English or Spanish) from scored customers.

The renderer draws what it is handed (:class:`ReportInputs`); the inputs are gathered by
:func:`clvml.pipelines.report.load_report_inputs`.
"""

from clvml.reporting.i18n import LANGUAGES
from clvml.reporting.report import ReportInputs, build_report, write_report

__all__ = ["LANGUAGES", "ReportInputs", "build_report", "write_report"]
