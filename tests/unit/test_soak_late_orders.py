"""The soak's ``late_orders`` judge (bench/soak_orders.py): a paid order is late when Adobe Commerce
did not have it within two feed intervals plus processing, counted outside fault windows and worker
outages; a cancellation ends the wait, and orders waiting for stock are not judged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_orders import allowed_seconds, feed_interval, late_orders, magento_arrivals, waits  # noqa: E402
from soak_watch import Disturbances  # noqa: E402


def test_the_target_is_two_feed_intervals_plus_processing_and_the_interval_is_the_slower_of_poll_and_or11() -> None:
    assert feed_interval(3.0, 60 * 0.02) == 3.0  # the soak's poll every 3 s is slower than OR11 x0.02
    assert feed_interval(60.0, 60.0) == 60.0  # --real-orders
    assert feed_interval(1.0, 900 * 0.02) == 18.0  # an External Partner pace would bind
    assert allowed_seconds(3.0) == 16.0
    assert allowed_seconds(60.0) == 130.0
    assert allowed_seconds(60.0, processing=5.0) == 125.0


def test_an_order_is_late_only_beyond_the_target_counted_outside_faults_and_outages() -> None:
    d = Disturbances()
    d.add("faults", 100, 130)
    d.add("outage worker 0", 200, 210)
    paid = {"IN-TIME": 10.0, "LATE": 10.0, "FAULTED": 95.0, "OUTAGE": 195.0, "ON-THE-EDGE": 300.0}
    arrived = {"IN-TIME": 25.0, "LATE": 27.0, "FAULTED": 140.0, "OUTAGE": 220.0, "ON-THE-EDGE": 316.0}

    late = late_orders(paid, arrived, {}, d, checked_at=1000.0, allowed=16.0)

    # LATE waited 17 s; FAULTED 45 s in all but only 15 outside the window; OUTAGE 25 s, 15 outside;
    # ON-THE-EDGE exactly the target, which is allowed
    assert [(o.order_id, o.waited) for o in late] == [("LATE", pytest.approx(17.0))]
    assert late[0].arrived == 27.0 and "LATE paid at" in late[0].describe()


def test_an_order_never_created_waits_until_the_check_and_one_cancelled_first_stops_at_the_cancellation() -> None:
    paid = {"MISSING": 10.0, "CANCELLED": 10.0, "CANCELLED-LATE": 10.0}
    cancelled = {"CANCELLED": 20.0, "CANCELLED-LATE": 40.0}

    late = late_orders(paid, {}, cancelled, Disturbances(), checked_at=100.0, allowed=16.0)

    by_id = {o.order_id: o for o in late}
    assert set(by_id) == {"MISSING", "CANCELLED-LATE"}
    assert by_id["MISSING"].waited == pytest.approx(90.0) and by_id["MISSING"].arrived is None
    assert "not in Adobe Commerce" in by_id["MISSING"].describe()
    assert by_id["CANCELLED-LATE"].waited == pytest.approx(30.0)


def test_a_fault_window_still_open_at_the_check_excuses_up_to_the_check() -> None:
    d = Disturbances()
    d.open("faults", at=50.0)
    late = late_orders({"A": 10.0, "B": 40.0}, {}, {}, d, checked_at=500.0, allowed=16.0)
    assert [(o.order_id, o.waited) for o in late] == [("A", pytest.approx(40.0))]  # B: 10 s before the window


def test_orders_waiting_for_stock_are_not_judged_and_waits_are_longest_first() -> None:
    paid = {"A": 0.0, "B": 0.0, "STOCK": 0.0}
    arrived = {"A": 5.0, "B": 50.0}

    assert late_orders(paid, arrived, {}, Disturbances(), 1000.0, 16.0, excused={"STOCK"})[0].order_id == "B"
    assert [w.order_id for w in waits(paid, arrived, {}, Disturbances(), 1000.0, excused={"STOCK"})] == ["B", "A"]
    assert {o.order_id for o in late_orders(paid, arrived, {}, Disturbances(), 1000.0, 16.0)} == {"B", "STOCK"}


def test_magento_creation_times_are_read_to_the_end_of_their_second() -> None:
    rows = [
        {"ext_order_id": "M-1", "created_at": "2026-05-01 10:00:00"},
        {"ext_order_id": None, "created_at": "2026-05-01 10:00:00"},  # not a marketplace order
        {"ext_order_id": "M-2", "created_at": None},
    ]
    arrivals = magento_arrivals(rows)
    assert list(arrivals) == ["M-1"]
    assert arrivals["M-1"] == pytest.approx(1777629600.0 + 1.0)  # UTC, plus the truncated second
