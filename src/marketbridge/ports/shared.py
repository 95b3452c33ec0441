"""Storage ports that more than one flow uses: the issue log, another flow's order records, SKU
links (and their edits, :class:`SkuLinksRepository`), and what other flows (the catalogue, the
audit) ask of the stock flow."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.catalogue import SkuLink
    from marketbridge.domain.issues import IssueReport, IssueType
    from marketbridge.domain.stock import Rule


class IssueLog(Protocol):
    """What Ops sees of a flow, as the flow writes it inside its unit of work: the issue records
    (``issue_records``) and the activity log (``audit_log``). Implemented over
    :class:`marketbridge.ports.IssuesRepository` by
    :class:`marketbridge.services.issues.RepositoryIssueLog`."""

    def record(self, report: IssueReport) -> None:
        """Open a record for ``report``, or update the active one for the same type and object."""
        ...

    def clear(self, type_: IssueType, object_id: str, *, by: str = "system") -> None:
        """Resolve the active record of this type on this object, if any: the condition is gone
        (``by`` the system, or a person who resolved it)."""
        ...

    def audit(self, actor: str, action: str, object_type: str = "", object_id: str = "", **detail: Any) -> None:
        """Write a person's action to the activity log."""
        ...

    def active_ids(self, type_: IssueType) -> list[str]:
        """The object ids of the active records of this type (one page, newest first)."""
        ...

    def resolved_by_a_person(self, type_: IssueType, object_id: str) -> bool:
        """A person (not the system) resolved a record of this type on this object: they want the
        object to go through as it is."""
        ...


class OrderRecords(Protocol):
    """What the shipments, refunds and audit flows ask of the orders flow inside their unit of work.
    Implemented over the orders flow's repository on that unit of work's session by
    :class:`marketbridge.services.orders.record.RepositoryOrderRecords`."""

    def mark_shipped(self, order_id: str, *, carriers: list[str], tracking_numbers: list[str],
                     at: datetime) -> str | None:
        """Move the order record to shipped, with these facts. An order the orders flow does not
        know (made by hand in Magento) or cannot move (already refunded, closed) is left as it is:
        the reason is returned (None when it moved)."""
        ...

    def mark_refunded(self, order_id: str, *, connection: str, source: str) -> str | None:
        """Move the order record to refunded (the marketplace says the order is fully refunded); a
        transition the order state machine does not allow is skipped by it. An order the orders
        flow does not hold (imported before marketbridge, or by hand) is left alone: the reason is
        returned (None otherwise)."""
        ...

    def marketplace_payload(self, order_id: str, *, connection: str) -> dict[str, Any] | None:
        """The OR11 payload of the order as the orders flow last stored it (the order feed hands it
        every version it reads), without the customer once personal data was purged; None when the
        orders flow does not hold the order."""
        ...

    def units_sold_not_in_magento(self, skus: Sequence[str], *, until_shipped: bool = False) -> dict[str, float]:
        """Per Magento SKU (of ``skus``), the units of marketplace orders that Mirakl has already
        taken off the offer and Adobe Commerce does not hold yet (the orders flow's rule, in one
        query); ``until_shipped`` counts orders created without a reservation until they ship."""
        ...


class SkuLinks(Protocol):
    """The person-confirmed SKU links (offer SKU -> Adobe Commerce SKU) as a flow reads them in its
    unit of work. Implemented over a session by :class:`marketbridge.adapters.db.skus.SqlSkuLinks`
    (:class:`SkuLinksRepository`, handed out by the composition root's ``sku_links``)."""

    def magento_sku_for(self, offer_sku: str) -> str:
        """The SKU to use in Adobe Commerce for ``offer_sku``: the linked one, else the same SKU."""
        ...

    def all_links(self) -> dict[str, str]:
        """Offer SKU -> Magento SKU for every confirmed link."""
        ...

    def offer_sku_for(self, magento_sku: str) -> str:
        """The marketplace offer SKU for a Magento SKU: a confirmed link's offer SKU, else the same SKU."""
        ...


class SkuLinksRepository(SkuLinks, Protocol):
    """The SKU links as ``services.skus`` reads and edits them (a person confirms or removes a link)
    in one unit of work, with the issue log and the stock flow's hints on the same transaction (a
    confirmed link clears its near-miss issue, is audited, and re-publishes the SKU). Rows handed
    out (``SkuLink``) are changed in place; the unit of work keeps the changes."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def stock(self) -> StockRecords: ...

    def linked(self, offer_sku: str) -> str | None:
        """The Adobe Commerce SKU confirmed for ``offer_sku``, or None."""
        ...

    def link_row(self, offer_sku: str) -> SkuLink | None: ...

    def link_rows(self) -> Sequence[SkuLink]:
        """Every link, by offer SKU."""
        ...

    def add_link(self, row: SkuLink) -> None:
        """Store a new link (written with the unit of work)."""
        ...

    def remove_link(self, row: SkuLink) -> None: ...

    def flush(self) -> None: ...


class SkuLinksStore(Protocol):
    """The SKU links' storage: :meth:`unit_of_work` is one transaction; :meth:`on_session` works in a
    transaction the caller owns."""

    def unit_of_work(self) -> AbstractContextManager[SkuLinksRepository]: ...

    def on_session(self, session: Session) -> SkuLinksRepository: ...


class StockRecords(Protocol):
    """What other flows ask of the stock flow inside their unit of work: the stock and price rules
    (one definition of the rules everywhere: the quantity and price an offer is published with go
    through them), and hints that SKUs must be decided again (the stock flow's outbox, written in
    the caller's transaction, so they commit with the change that caused them). Implemented over a
    session by :class:`marketbridge.services.stock.queries.SessionStockRecords`."""

    def rules(self) -> list[Rule]:
        """Every stored channel rule, as the domain's ``publishable_quantity`` / ``channel_price``
        take them."""
        ...

    def note_hints(self, skus: Iterable[str], *, stock: bool = True, price: bool = False, force: bool = False,
                   exact: bool = False, reason: str = "") -> int:
        """Record that these SKUs may have changed (idempotent; the stock flow re-reads them);
        ``exact`` asks for the exact quantity (an order's sale or refusal moved it by a few units)."""
        ...

    def force_resend(self, stock_skus: Sequence[str], price_skus: Sequence[str], *, reason: str) -> None:
        """Ask the stock flow to re-read these SKUs in Adobe Commerce (quantity exactly for
        ``stock_skus``, price for ``price_skus``) and send what it says then, even when that equals
        what it last sent; one sorted write of hints."""
        ...
