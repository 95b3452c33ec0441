"""What the feed's commands return: typed results, with ``as_dict`` for the workflow engine (its
portable serializer stores JSON only) and the CLI's ``--json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from marketbridge.domain.order_feed import MirrorOrder, OrderChange

#: At most this many changes are kept on a result for display; the outbox has them all.
SHOWN_CHANGES = 200


def _change_dict(change: OrderChange) -> dict[str, Any]:
    return {"order_id": change.order_id, "kind": change.kind.value, "detail": dict(change.detail)}


@dataclass
class ReadResult:
    """One read. ``source`` names what it read: ``"OR11"`` (its pages) or ``"OR13 export"`` (a
    long window through the order export; ``pages`` then counts the pages of
    ``order_poll_page_size`` orders it wrote, each one transaction). ``skipped`` says why nothing
    was read: ``"another worker reads"`` (the lease is held), ``"not due"`` (the schedule ticked
    before ``next_read_due``), ``"OR11 not due"`` or ``"OR13 not due"`` (the client's pace or
    Mirakl's Retry-After; ``not_due_seconds`` says how long)."""

    orders: int = 0
    pages: int = 0
    unchanged: int = 0
    stale: int = 0
    failed: list[str] = field(default_factory=list)
    events: int = 0
    #: orders the orders flow stored from this read as new records, or as newer versions
    #: (``bus.StoreMarketplaceOrders``; 0 when nothing handles it)
    orders_new: int = 0
    orders_updated: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    changes: list[OrderChange] = field(default_factory=list)
    since: str | None = None
    cursor: str | None = None
    source: str | None = None
    seconds: float = 0.0
    #: where ``seconds`` went: OR11 itself (the client's pace and Mirakl's answer), the orders
    #: flow storing what it was handed, and the mirror's page transactions (the rest is parsing)
    or11_seconds: float = 0.0
    #: an export read's time waiting on Mirakl (OR13, OR14 until COMPLETED, OR15's downloads)
    export_seconds: float = 0.0
    store_seconds: float = 0.0
    mirror_seconds: float = 0.0
    skipped: str | None = None
    not_due_seconds: float | None = None

    def record(self, found: tuple[OrderChange, ...]) -> None:
        self.events += len(found)
        for change in found:
            self.by_kind[change.kind.value] += 1
            if len(self.changes) < SHOWN_CHANGES:
                self.changes.append(change)

    def merge(self, page: ReadResult) -> None:
        """Add one committed page's counts."""
        self.unchanged += page.unchanged
        self.stale += page.stale
        self.events += page.events
        self.by_kind.update(page.by_kind)
        self.changes.extend(page.changes[:max(0, SHOWN_CHANGES - len(self.changes))])

    def as_dict(self) -> dict[str, Any]:
        return {"orders": self.orders, "pages": self.pages, "unchanged": self.unchanged, "stale": self.stale,
                "failed": list(self.failed), "events": self.events,
                "orders_new": self.orders_new, "orders_updated": self.orders_updated, "by_kind": dict(self.by_kind),
                "changes": [_change_dict(c) for c in self.changes], "since": self.since, "cursor": self.cursor,
                "source": self.source, "seconds": round(self.seconds, 3), "or11_seconds": round(self.or11_seconds, 3),
                "export_seconds": round(self.export_seconds, 3),
                "store_seconds": round(self.store_seconds, 3), "mirror_seconds": round(self.mirror_seconds, 3),
                "skipped": self.skipped, "not_due_seconds": self.not_due_seconds}


@dataclass
class DispatchResult:
    published: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"published": self.published, "by_kind": dict(self.by_kind), "skipped": self.skipped}


@dataclass
class RefreshResult:
    """A person's "refresh now" of one order: what the mirror holds now and what changed."""

    order: MirrorOrder
    changes: list[OrderChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"order_id": self.order.order_id, "state": self.order.state,
                "updated_at": self.order.updated_at.isoformat(), "changes": [_change_dict(c) for c in self.changes]}


__all__ = ["SHOWN_CHANGES", "DispatchResult", "ReadResult", "RefreshResult"]
