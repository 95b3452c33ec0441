"""The finance flow: the monthly reconciliation of the marketplace against Adobe Commerce
(:mod:`.report`; its JSON shape in :mod:`.views`). This package exposes its commands."""

from marketbridge.services.finance.report import build_report, report_csv
from marketbridge.services.finance.views import FinanceReportView, report_view

__all__ = ["FinanceReportView", "build_report", "report_csv", "report_view"]
