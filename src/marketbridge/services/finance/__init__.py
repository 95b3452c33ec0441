"""The finance flow: the monthly reconciliation of the marketplace against Adobe Commerce
(:mod:`.report`). This package exposes its commands."""

from marketbridge.services.finance.report import build_report, report_csv

__all__ = ["build_report", "report_csv"]
