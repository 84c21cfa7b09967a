"""`scaling report`: a self-contained HTML page with figures, fit tables and an in-page planner."""

from scaling.report.page import report_html, write_report

__all__ = ["report_html", "write_report"]
