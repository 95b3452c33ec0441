"""The soak's sampler reads the units our database holds back through the same port the stock flow
uses (bench/soak_watch.py ``held_units``). It once called an older signature and failed every
sweep of a full run without a word; this runs it on a real migrated database."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_watch import held_units  # noqa: E402
from sqlalchemy import select  # noqa: E402

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



def test_cancelled_units_are_allowed_until_our_database_records_the_cancellation(migrated_db_url) -> None:
    """The judge allows the units Mirakl put back for a customer cancellation until our database
    records it cancelled, and the soak reports when that was, from the order's transitions (UTC)."""
    import datetime as dt

    from soak_watch import cancellation_lags, restored_units

    from marketbridge.adapters.db.models.orders import OrderTransition

    db = Database(migrated_db_url)
    try:
        with db.session() as session:
            now = utcnow()
            for order_id, state in (("JL-2-A", "created"), ("JL-3-A", "awaiting_payment")):
                session.add(MarketplaceOrder(connection="default", order_id=order_id, state=state,
                                             marketplace_state="CANCELED", marketplace_updated_at=now,
                                             marketplace_created_at=now, currency="GBP", total_price=1.0))
        cancelled = {"JL-2-A": ["SKU-A", "SKU-B"], "JL-3-A": ["SKU-A"], "JL-4-A": ["SKU-C"]}
        assert restored_units(db, cancelled) == {"SKU-A": 2, "SKU-B": 1, "SKU-C": 1}

        known_at = dt.datetime(2026, 12, 7, 6, 30, 15, tzinfo=dt.UTC)
        with db.session() as session:
            order = session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.order_id == "JL-2-A")).one()
            order.state = "cancelled"
            session.add(OrderTransition(order_pk=order.id, from_state="created", to_state="cancelled",
                                        at=known_at, actor="marketplace", facts={}))
        assert restored_units(db, cancelled) == {"SKU-A": 1, "SKU-C": 1}
        lags = cancellation_lags(migrated_db_url, {"JL-2-A": known_at.timestamp() - 12, "JL-3-A": known_at.timestamp()})
        assert [(c.order_id, c.known) for c in lags] == [("JL-2-A", known_at.timestamp()), ("JL-3-A", None)]
    finally:
        db.dispose()
