"""The stock flow's part of another flow's unit of work: :class:`SessionStockRecords` implements
:class:`marketbridge.ports.StockRecords` over one session, so the catalogue flow reads the stock
and price rules and notes hints for the stock flow without naming the stock flow's tables."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from marketbridge.domain.stock import Rule
from marketbridge.services.stock import outbox
from marketbridge.services.stock.rules import load_rules


class SessionStockRecords:
    """:class:`marketbridge.ports.StockRecords` on one session (what e.g.
    :class:`marketbridge.adapters.db.catalogue.SqlCatalogueStore` hands out for the stock flow)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def rules(self) -> list[Rule]:
        return list(load_rules(self.session))

    def note_hints(self, skus: Iterable[str], *, stock: bool = True, price: bool = False, force: bool = False,
                   reason: str = "") -> int:
        return outbox.note_hints(self.session, skus, stock=stock, price=price, force=force, reason=reason)
