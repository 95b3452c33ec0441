"""The finance report's marketplace reads with the order feed on (issue 20), on fakes: the month's
orders through a *differential* order export (both date ranges, so Mirakl's 5-minute pace applies,
not the daily one of a full export), ``total_commission`` kept, the ids through the mirror, and an
id the mirror lacks reported with a note, not silently. Over the simulators:
tests/integration/test_finance_report.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import finance as finance_domain
from marketbridge.services.finance.marketplace import UNVERIFIED, FeedFinanceOrders
from marketbridge.services.finance.report import marketplace_side
from marketbridge.services.order_feed.wire import mirror_of
from tests.fakes_order_feed import FakeFeedStore, raw_order

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 5, 2, 8, 0, tzinfo=dt.UTC)


class ExportOnly:
    """OR13–OR15 only: OR11 fails the test."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.requests: list[mirakl_models.OrderExportRequest] = []

    def export_orders(self, request: mirakl_models.OrderExportRequest, *, timeout: float = 3600.0) -> Any:
        self.requests.append(request)
        return iter(mirakl_models.Order.model_validate(o) for o in self.orders)

    def list_orders(self, **_: Any) -> Any:
        raise AssertionError("OR11 called with the order feed on")

    iter_offset = list_orders


def test_the_months_orders_come_from_a_differential_export_with_the_commission_kept() -> None:
    order = raw_order("JL-1-A", "SHIPPED", created=START + dt.timedelta(days=3))
    order["total_commission"] = 2.4
    mirakl = ExportOnly([order])
    source = FeedFinanceOrders(lambda: mirakl, FakeFeedStore(), now=lambda: NOW)  # type: ignore[arg-type,return-value]

    [found] = source.created_between(START, END)

    [request] = mirakl.requests
    assert (request.start_date, request.end_date) == (START, END - dt.timedelta(seconds=1))
    assert (request.start_update_date, request.end_update_date) == (START, NOW)
    assert not request.full  # a full export is allowed once a day; this one every 5 minutes
    side = marketplace_side(found)
    assert (side.order_id, side.total, side.commission) == ("JL-1-A", Decimal("24.99"), Decimal("2.4"))


def test_ids_are_checked_in_the_mirror_and_one_it_lacks_is_unverified_with_a_note() -> None:
    feed = FakeFeedStore()
    with feed.unit_of_work() as repo:
        repo.save(mirror_of(mirakl_models.Order.model_validate(raw_order("JL-2-A")), 3600.0), at=NOW)
    source = FeedFinanceOrders(lambda: ExportOnly([]), feed, now=lambda: NOW)  # type: ignore[arg-type,return-value]

    checked = source.known(["JL-2-A", "JL-9-A"])

    assert checked.known == {"JL-2-A"} and checked.unverified == {"JL-9-A"}
    magento = finance_domain.MagentoSide("JL-9-A", "100000009", START, "GBP", Decimal("10.00"), Decimal(0), 0)
    report = finance_domain.build_report("2026-03", START, END, [], [magento], Decimal("0.01"),
                                         unverified=dict.fromkeys(checked.unverified, checked.why))
    [row] = report.rows
    assert row.status is finance_domain.Status.MISSING_ON_MARKETPLACE
    assert row.notes[-1] == UNVERIFIED and "older marketplace order is not ruled out" in row.notes[-1]
