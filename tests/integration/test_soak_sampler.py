"""The soak's sampler reads the units our database holds back through the same port the stock flow
uses (bench/soak_watch.py ``held_units``). It once called an older signature and failed every
sweep of a full run without a word; this runs it on a real migrated database."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_watch import held_units  # noqa: E402

from marketbridge.adapters.db.base import utcnow  # noqa: E402
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine  # noqa: E402
from marketbridge.adapters.db.session import Database  # noqa: E402


def test_held_units_counts_an_order_not_yet_in_magento(migrated_db_url) -> None:
    db = Database(migrated_db_url)
    try:
        assert held_units(db, ["SKU-A"], until_shipped=False) == {}
        with db.session() as session:
            now = utcnow()
            order = MarketplaceOrder(connection="default", order_id="JL-1-A", state="awaiting_payment",
                                     marketplace_state="WAITING_DEBIT_PAYMENT", marketplace_updated_at=now,
                                     marketplace_created_at=now, currency="GBP", total_price=1.0)
            session.add(order)
            session.flush()
            session.add(OrderLine(order_pk=order.id, order_line_id="JL-1-A-1", offer_sku="SKU-A", magento_sku="SKU-A",
                                  quantity=2, marketplace_state="WAITING_DEBIT_PAYMENT"))
        assert held_units(db, ["SKU-A", "SKU-B"], until_shipped=False) == {"SKU-A": 2.0}
    finally:
        db.dispose()


def test_a_cancellation_is_known_from_its_first_move_to_cancelled(migrated_db_url) -> None:
    """The soak excuses an offer above Magento for a cancelled SKU until our database recorded the
    cancellation; the time is read from the order's transitions, in UTC."""
    import datetime as dt

    from soak_watch import cancellations_not_yet_known

    from marketbridge.adapters.db.models.orders import OrderTransition

    db = Database(migrated_db_url)
    try:
        with db.session() as session:
            now = utcnow()
            order = MarketplaceOrder(connection="default", order_id="JL-2-A", state="cancelled",
                                     marketplace_state="CANCELED", marketplace_updated_at=now,
                                     marketplace_created_at=now, currency="GBP", total_price=1.0)
            session.add(order)
            session.flush()
            known_at = dt.datetime(2026, 12, 7, 6, 30, 15, tzinfo=dt.UTC)
            session.add(OrderTransition(order_pk=order.id, from_state="created", to_state="cancelled",
                                        at=known_at, actor="marketplace", facts={}))
        cancelled_at = {"JL-2-A": known_at.timestamp() - 12, "JL-3-A": known_at.timestamp() - 5}
        found = cancellations_not_yet_known(migrated_db_url, cancelled_at, {"JL-2-A": ["SKU-A"], "JL-3-A": ["SKU-B"]})
        assert [(c.order_id, c.skus, c.known) for c in found] == [
            ("JL-2-A", ["SKU-A"], known_at.timestamp()), ("JL-3-A", ["SKU-B"], None)]
    finally:
        db.dispose()
