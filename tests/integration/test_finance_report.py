"""The finance report reads both sandboxes live and pairs orders by marketplace order id."""

from __future__ import annotations

import csv
import io

import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.domain.finance import MonthError
from marketbridge.services import finance
from marketbridge.services import refunds as refund_service
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import (
    credit_memo,
    magento_order,
    place_marketplace_order,
    ship_on_marketplace,
    shipped_order,
)

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


@pytest.fixture
def rt(refunds_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(refunds_db_url, fresh_sandboxes))
    yield runtime
    runtime.close()


def this_month() -> str:
    from marketbridge.adapters.db.base import utcnow

    return utcnow().strftime("%Y-%m")


def test_report_pairs_orders_and_flags_each_kind_of_difference(rt, fresh_sandboxes):
    url = fresh_sandboxes.mirakl_url
    matched = shipped_order(rt.mirakl, rt.magento, url, [("MB-000001", 2)], shipping=4.5)
    memo_id = credit_memo(rt.magento, matched, {"MB-000001": 1})
    assert refund_service.process(rt, memo_id).status == "sent"
    # marketplace only
    lonely, lines = place_marketplace_order(url, [("MB-000006", 1)], 0)
    ship_on_marketplace(rt.mirakl, url, lonely, lines)
    # Magento only (an id the marketplace never issued)
    magento_order(rt.magento, "JL-777777-A", [("MB-000016", 1)], 0)
    # both, but Magento charged a different total
    differs, lines = place_marketplace_order(url, [("MB-000015", 1)], 0)
    ship_on_marketplace(rt.mirakl, url, differs, lines)
    magento_order(rt.magento, differs, [("MB-000015", 1)], 9.99)

    report = finance.build_report(rt, this_month())
    rows = {row.order_id: row for row in report.rows}
    assert rows[matched.order_id].status.value == "matched"
    assert rows[matched.order_id].marketplace.refunded == rows[matched.order_id].magento.refunded
    assert rows[matched.order_id].magento.creditmemos == 1
    assert rows[matched.order_id].marketplace.commission > 0
    assert rows[lonely].status.value == "missing_in_magento"
    assert rows["JL-777777-A"].status.value == "missing_on_marketplace"
    assert rows[differs].status.value == "mismatched"
    assert "order total differs" in rows[differs].notes[0]
    totals = report.totals()
    assert totals["by_status"] == {"matched": 1, "mismatched": 1, "missing_in_magento": 1, "missing_on_marketplace": 1}
    assert totals["marketplace_refunds"] == 1

    text = finance.report_csv(report)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0][:2] == ["order_id", "status"]
    assert parsed[-1][0] == "TOTAL"
    assert len(parsed) == 1 + 4 + 1


def test_other_months_are_empty_and_bad_months_are_refused(rt):
    assert finance.build_report(rt, "2001-01").rows == []
    with pytest.raises(MonthError):
        finance.build_report(rt, "2026-13")
