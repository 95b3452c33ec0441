"""The finance report as JSON (``GET /api/finance/report``, ``marketbridge finance report --json``):
a pydantic model of :meth:`marketbridge.domain.finance.Report.as_dict`, so ``/openapi.json``
describes it. Amounts are JSON numbers, as the report has always carried them (the CSV too)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from marketbridge.domain import finance as finance_domain


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class FinanceTotals(_View):
    orders: int
    by_status: dict[str, int]  # matched, mismatched, missing_in_magento, missing_on_marketplace
    marketplace_total: float
    marketplace_commission: float
    marketplace_refunded: float
    marketplace_refunds: int
    magento_total: float
    magento_refunded: float
    magento_creditmemos: int


class FinanceRow(_View):
    """One marketplace order next to its Adobe Commerce order (a side is null when missing)."""

    order_id: str
    status: str
    marketplace_state: str | None
    marketplace_created: str | None
    currency: str | None
    marketplace_total: float | None
    marketplace_commission: float | None
    marketplace_refunded: float | None
    marketplace_refunds: int | None
    magento_increment_id: str | None
    magento_created: str | None
    magento_total: float | None
    magento_refunded: float | None
    magento_creditmemos: int | None
    notes: str


class FinanceReportView(_View):
    """One month's reconciliation (``start``/``end`` in ISO 8601, end exclusive)."""

    month: str
    start: str
    end: str
    totals: FinanceTotals
    rows: list[FinanceRow]


def report_view(report: finance_domain.Report) -> FinanceReportView:
    return FinanceReportView.model_validate(report.as_dict())
