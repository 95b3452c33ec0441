"""What the soak judges about the order feed (used by ``bench/soak.py``): ``late_orders``.

An order is late when the customer paid and Adobe Commerce did not have it within two feed
intervals plus processing, counting only time outside the fault windows and worker outages (the
same :class:`soak_watch.Disturbances` the oversell judge uses). Two intervals: a payment that lands
just after a read waits for the next one, and that read may still be in progress when the order
changed; processing covers the creation itself (half a dozen cart calls, the invoice) and the
queue in front of it, which do not shrink with the soak's rate scale, so it is not scaled.

The feed interval is the longest a change waits for the next read: the orders poll's period, or
OR11's pace (60 s, x the rate scale unless the soak runs OR11 at its real pace) when that is slower.

Excused: an order cancelled by the customer before Adobe Commerce had it stops waiting at the
cancellation (there is nothing left to create); an order the service reported as waiting for stock
(``order_waiting_for_stock``: the soak set the stock to 0 between acceptance and payment, and Ops
books it in only once the activity is over) is not judged, and is counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from soak_watch import Disturbances, clock

PROCESSING_SECONDS = 10.0


def feed_interval(poll_seconds: float, or11_seconds: float) -> float:
    """Seconds between two reads that can bring a paid order in: the poll's period, or OR11's
    (already scaled) pace when that is slower."""
    return max(poll_seconds, or11_seconds)


def allowed_seconds(interval: float, processing: float = PROCESSING_SECONDS) -> float:
    return 2 * interval + processing


@dataclass
class LateOrder:
    order_id: str
    paid: float
    arrived: float | None  # in Adobe Commerce (None: not by the check)
    waited: float  # seconds outside faults and outages, from payment to arrival, cancellation or the check

    def describe(self) -> str:
        where = f"in Adobe Commerce at {clock(self.arrived)}" if self.arrived is not None else "not in Adobe Commerce"
        return f"{self.order_id} paid at {clock(self.paid)}, {where}: waited {self.waited:.1f} s outside faults and outages"


def waits(paid: Mapping[str, float], in_magento: Mapping[str, float], cancelled: Mapping[str, float],
          disturbances: Disturbances, checked_at: float, excused: Iterable[str] = ()) -> list[LateOrder]:
    """Every judged order's wait, longest first: from its payment to its arrival in Adobe Commerce,
    its cancellation by the customer, or the check, whichever came first, outside the disturbances."""
    skip = set(excused)
    out = []
    for order_id, at in paid.items():
        if order_id in skip:
            continue
        arrived = in_magento.get(order_id)
        end = min(t for t in (arrived, cancelled.get(order_id), checked_at) if t is not None)
        out.append(LateOrder(order_id, at, arrived, disturbances.outside(at, max(at, end))))
    return sorted(out, key=lambda late: late.waited, reverse=True)


def late_orders(paid: Mapping[str, float], in_magento: Mapping[str, float], cancelled: Mapping[str, float],
                disturbances: Disturbances, checked_at: float, allowed: float,
                excused: Iterable[str] = ()) -> list[LateOrder]:
    """The orders that waited longer than ``allowed`` seconds (see the module's docstring)."""
    return [w for w in waits(paid, in_magento, cancelled, disturbances, checked_at, excused) if w.waited > allowed]


def magento_arrivals(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Marketplace order id -> when Adobe Commerce created it, from the Magento simulator's
    ``/_sandbox/orders`` rows. ``created_at`` is to the second, so the end of that second is taken:
    an order is never judged as earlier than it was."""
    from _common import epoch

    out: dict[str, float] = {}
    for row in rows:
        at = epoch(row.get("created_at"))
        if row.get("ext_order_id") and at is not None:
            out[str(row["ext_order_id"])] = min(out.get(str(row["ext_order_id"]), at + 1.0), at + 1.0)
    return out


def waiting_for_stock(database_url: str) -> set[str]:
    """Orders the service reported as ``order_waiting_for_stock`` at any time (open or resolved)."""
    from sqlalchemy import select

    from marketbridge.adapters.db.models.core import IssueRecord
    from marketbridge.adapters.db.session import Database

    db = Database(database_url)
    try:
        with db.session() as session:
            return set(session.scalars(select(IssueRecord.object_id).where(
                IssueRecord.type == "order_waiting_for_stock")))
    finally:
        db.dispose()
