"""Finance report rules: month bounds in London time, matching, CSV formula guard."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest

from marketbridge.domain.finance import (
    MagentoSide,
    MarketplaceSide,
    MonthError,
    Status,
    build_report,
    compare,
    month_bounds,
    safe_cell,
    to_csv,
)


def mp(order_id="JL-1-A", total="100.00", refunded="0", state="SHIPPED", commission="12.00"):
    return MarketplaceSide(order_id, None, state, "GBP", D(total), D(commission), D(refunded), 1 if D(refunded) else 0)


def mg(ext="JL-1-A", total="100.00", refunded="0", increment="000000001"):
    return MagentoSide(ext, increment, None, "GBP", D(total), D(refunded), 1 if D(refunded) else 0)


def test_month_bounds_follow_london_time():
    start, end = month_bounds("2026-07")  # BST: local midnight is 23:00 UTC the day before
    assert start == dt.datetime(2026, 6, 30, 23, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 7, 31, 23, tzinfo=dt.UTC)
    start, end = month_bounds("2026-12")
    assert (start, end) == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    for bad in ("2026-13", "2026-1", "November", ""):
        with pytest.raises(MonthError):
            month_bounds(bad)


def test_compare_statuses():
    tol = D("0.01")
    assert compare(mp(), mg(), tol).status is Status.MATCHED
    assert compare(mp(total="100.00"), mg(total="100.01"), tol).status is Status.MATCHED
    row = compare(mp(refunded="20.00"), mg(refunded="25.00"), tol)
    assert row.status is Status.MISMATCHED and "refunds differ" in row.notes[0]
    assert compare(mp(), None, tol).status is Status.MISSING_IN_MAGENTO
    assert compare(mp(state="REFUSED"), None, tol).status is Status.MATCHED
    assert compare(None, mg(), tol).status is Status.MISSING_ON_MARKETPLACE


def test_csv_cells_never_start_a_formula():
    assert safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert safe_cell("+1") == "'+1" and safe_cell("-2") == "'-2" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell(-2.5) == -2.5 and safe_cell(None) == "" and safe_cell("JL-1-A") == "JL-1-A"
    start, end = month_bounds("2026-11")
    report = build_report("2026-11", start, end, [mp("=cmd|' /C calc'!A0")], [mg("=cmd|' /C calc'!A0")], D("0.01"))
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[1][0].startswith("'=")
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_totals_add_up():
    start, end = month_bounds("2026-11")
    report = build_report("2026-11", start, end, [mp("A", "10.00", "2.00"), mp("B", "5.00")],
                          [mg("A", "10.00", "2.00"), mg("C", "7.00")], D("0.01"))
    totals = report.totals()
    assert totals["marketplace_total"] == 15.0 and totals["magento_total"] == 17.0
    assert totals["by_status"] == {"matched": 1, "mismatched": 0, "missing_in_magento": 1, "missing_on_marketplace": 1}
    assert [r.order_id for r in report.rows] == ["B", "C", "A"]
