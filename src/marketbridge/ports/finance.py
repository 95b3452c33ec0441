"""Where the finance report reads the marketplace's orders (implemented in
:mod:`marketbridge.services.finance.marketplace`, picked by ``order_feed_enabled`` in
:mod:`marketbridge.bootstrap`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class KnownOrders:
    """Which of some marketplace order ids exist. ``unverified``: ids the source could not settle
    (the order feed's mirror holds only orders updated since the feed started), which the report
    says in so many words rather than calling them missing without a doubt."""

    known: frozenset[str] = frozenset()
    unverified: frozenset[str] = frozenset()
    #: why the unverified ones could not be settled, for the report's note
    why: str = ""


class FinanceOrders(Protocol):
    def created_between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Every marketplace order created in ``[start, end)``, as OR11's JSON (``total_commission``
        kept; amounts as JSON numbers, which the report reads through ``str`` into ``Decimal``)."""
        ...

    def known(self, order_ids: Sequence[str]) -> KnownOrders: ...
