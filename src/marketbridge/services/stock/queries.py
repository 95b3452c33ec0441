"""What other flows may read of the stock flow's data (issue 18 item 2): the console's overview
asks here for the stock flow's lag, instead of reading ``sync_outbox`` itself; the audit reads the
rules and asks for a forced re-read through :class:`SessionStockRecords`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from marketbridge.domain.stock import Rule
from marketbridge.services.stock import outbox
from marketbridge.services.stock import rules as stock_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)


def oldest_unsent_change(session: Session) -> dt.datetime | None:
    """When the oldest stock or price change not yet sent to the marketplace was first noticed, or
    None when every change has been sent."""
    return outbox.store(session).oldest_pending_change()


class SessionStockRecords:
    """The :class:`marketbridge.ports.StockRecords` port over one session: what the catalogue's and
    the audit's units of work (``adapters.db.catalogue`` / ``adapters.db.audit``) ask of the stock flow."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def rules(self) -> list[Rule]:
        return stock_rules.load_rules(self.session)

    def note_hints(self, skus: Iterable[str], *, stock: bool = True, price: bool = False, force: bool = False,
                   exact: bool = False, reason: str = "") -> int:
        return outbox.note_hints(self.session, skus, stock=stock, price=price, force=force, exact=exact,
                                 reason=reason)

    def force_resend(self, stock_skus: Sequence[str], price_skus: Sequence[str], *, reason: str) -> None:
        # flags of two hints on one SKU accumulate; one sorted write (see note_hint_groups)
        outbox.note_hint_groups(self.session, [
            outbox.HintGroup(tuple(stock_skus), stock=True, exact=True, force=True, reason=reason),
            outbox.HintGroup(tuple(price_skus), stock=False, price=True, force=True, reason=reason),
        ])
