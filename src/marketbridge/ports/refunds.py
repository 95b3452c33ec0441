"""The refunds flow's storage port (implemented in :mod:`marketbridge.adapters.db.refunds`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.ports.shared import IssueLog, OrderRecords, SkuLinks

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
    from marketbridge.domain.order_feed import MirrorOrder



class RefundsRepository(Protocol):
    """What the refunds flow reads and writes in one unit of work: its credit memo records
    (``refunds_out``), its ledger of marketplace refunds (``marketplace_refunds``), the cached RE01
    reasons, its poll cursors, and through the other ports the issue records it raises, the order
    records it moves to refunded and the SKU links it reads. Records handed out are changed in
    place; the unit of work keeps the changes."""

    @property
    def issues(self) -> IssueLog: ...

    @property
    def orders(self) -> OrderRecords: ...

    @property
    def skus(self) -> SkuLinks: ...

    def memo(self, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
        """The memo's record (created, ``source='manual'``, if missing); ``lock`` takes a row lock
        on PostgreSQL for a check-then-write (SQLite serialises writers anyway)."""
        ...

    def has_memo(self, creditmemo_id: int) -> bool: ...

    def add_memo(self, creditmemo_id: int, *, status: str, source: str) -> None:
        """Store a new memo record at once (an existing one is a constraint error)."""
        ...

    def add_memo_if_absent(self, creditmemo_id: int, *, status: str, source: str) -> bool:
        """Store a new memo record unless another worker stored it first; True when this call did."""
        ...

    def memo_by_key(self, key: str) -> RefundOut | None:
        """A memo by entity id (digits) or increment id."""
        ...

    def memos_in(self, statuses: Sequence[str]) -> Sequence[RefundOut]: ...

    def memo_on_order_in(self, order_id: str, statuses: Sequence[str]) -> bool:
        """Some memo of this marketplace order is in one of ``statuses``."""
        ...

    def list_memos(self, *, status: str | None, order_id: str | None, limit: int) -> Sequence[RefundOut]:
        """Newest first."""
        ...

    def counts_by_status(self) -> list[tuple[str, int]]:
        """Memos per status (only the statuses present), in no particular order."""
        ...

    def claim_send(self, creditmemo_id: int, seen_attempts: int, statuses: Sequence[str], *,
                   status: str) -> bool:
        """Conditionally move the memo to ``status`` (with the attempt time, one more attempt and
        ``in_flight``) only if it still has ``seen_attempts`` and is in ``statuses``: True when this
        call claimed it (another worker may have claimed it after we looked)."""
        ...

    def marketplace_refund(self, refund_id: str) -> MarketplaceRefund | None: ...

    def add_marketplace_refund(self, **values: Any) -> None:
        """Add a refund to the ledger (``values`` by column)."""
        ...

    def known_refund_ids(self) -> set[str]:
        """Every refund id in the ledger."""
        ...

    def refunds_of_memo(self, creditmemo_id: int) -> Sequence[MarketplaceRefund]: ...

    def refund_states(self, refund_ids: Sequence[str]) -> list[str]:
        """The ledger states of these refunds (those found)."""
        ...

    def list_marketplace_refunds(self, *, origin: str | None, order_id: str | None,
                                 limit: int) -> Sequence[MarketplaceRefund]:
        """Newest first."""
        ...

    def order_ids_to_follow(self, sent_status: str) -> list[str]:
        """Marketplace orders of memos in ``sent_status`` and of ledger refunds not yet ``REFUNDED``."""
        ...

    def cursor(self, name: str) -> str | None:
        """Where a poll of the flow stopped last (a stream cursor); None before its first run."""
        ...

    def move_cursor(self, name: str, value: str) -> None: ...

    def valid_reasons(self) -> dict[str, RefundReason]:
        """The cached RE01 reasons of type ``REFUND``, by code."""
        ...

    def store_reason(self, code: str, *, label: str, type_: str, is_shop_right: bool, at: datetime) -> None:
        """Insert or update one cached RE01 reason."""
        ...


class RefundsStore(Protocol):
    """The refunds flow's storage: each :meth:`unit_of_work` is one transaction, committed when the
    block ends normally and rolled back when it raises."""

    def unit_of_work(self) -> AbstractContextManager[RefundsRepository]: ...


class FollowedOrders(Protocol):
    """Where the refunds follow (``services.refunds.follow``) reads marketplace orders, as the order
    feed's :class:`~marketbridge.domain.order_feed.MirrorOrder` (no customer data; refunds and
    cancelations with amount, quantity, reason, state and date). Two implementations, picked by
    ``order_feed_enabled`` in :mod:`marketbridge.bootstrap` (``services.refunds.orders``): OR11
    itself (the feed off), or the feed's mirror (issue 20: no OR11 call; a confirmation of our
    OR28 comes with the feed's next read)."""

    def by_ids(self, order_ids: Sequence[str]) -> list[MirrorOrder]:
        """These orders as the source knows them now; one it does not know is left out."""
        ...

    #: True when :meth:`by_ids` reads the marketplace itself (OR11): what it answers is as of now.
    reads_live: bool

    def read_since(self, moment: datetime) -> bool:
        """Whether the source has read the marketplace completely since ``moment`` (our clock):
        always for OR11; for the mirror, the feed's last read started after it and ended well."""
        ...

    def next_read_in(self, now: datetime) -> float | None:
        """Seconds until the source's next read is due (0.0 for OR11, which reads on every call);
        None when nothing says a read is coming (the feed never read, or is overdue with no reader:
        stopped or stalled), so waiting for it would be waiting for nothing."""
        ...

    def updated_since(self, since: datetime, now: datetime) -> tuple[list[MirrorOrder], datetime | None]:
        """Orders changed at or after ``since`` (the caller subtracts its overlap), and where the
        next pass should start (None: nothing says; the caller keeps its cursor). OR11 compares
        Mirakl's ``last_updated_date`` and answers the newest one seen; the mirror compares when its
        row changed (our clock) and answers ``now``, taken before it read."""
        ...
