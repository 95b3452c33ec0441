"""The order feed's storage port (issue 20), implemented in :mod:`marketbridge.adapters.db.order_feed`.

Two sides:

* :class:`OrderFeedStore.unit_of_work` gives the feed's own service (``services.order_feed``) an
  :class:`OrderFeedRepository`: the mirror's rows, the outbox of changes (``order_feed_events``)
  and the feed's state row (cursor, reader lease, last read's figures), in one transaction;
* :class:`OrderFeedStore.mirror` gives everyone else the read port, :class:`OrderMirror`: one
  order, the orders in some states, what changed since a moment, and the feed's status. This is
  what the orders, shipments, refunds and finance flows and the console read instead of OR11.

**One reader at a time.** The state row carries a lease (``owner``, ``until``): a read takes it
(:meth:`OrderFeedRepository.take_lease`, an atomic conditional update, so two workers on
PostgreSQL cannot both win), holds it while it runs, and gives it back at the end. A worker
killed mid-read leaves its lease until ``until`` passes (``order_feed_lease_seconds``); the next
read then takes it over. Every transaction that writes the mirror starts by updating that row
(:meth:`~OrderFeedRepository.hold_lease` for a read's page, :meth:`~OrderFeedRepository.serialise_writes`
for a single-order refresh), so PostgreSQL's row lock orders all mirror writes one after the
other, and a reader whose lease was taken over finds out before it writes anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from marketbridge.domain.order_feed import ChangeKind, MirrorOrder, OrderChange


@dataclass(frozen=True)
class FeedEvent:
    """One stored change (a row of the outbox), as dispatch publishes it."""

    id: int
    order_id: str
    kind: ChangeKind
    detail: Mapping[str, str]
    created_at: dt.datetime


@dataclass(frozen=True)
class ReadFigures:
    """What one read did, kept on the state row for the console."""

    started_at: dt.datetime
    finished_at: dt.datetime
    orders: int
    pages: int
    events: int
    next_read_due: dt.datetime
    error: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class FeedStatus:
    """The feed as the console shows it. ``cursor`` is the newest ``last_updated_date`` the feed
    has read completely (Mirakl's clock); the next read asks from ``cursor`` minus the overlap.
    ``reader`` names the worker holding the lease while a read runs (None when idle or expired)."""

    cursor: dt.datetime | None = None
    last_read_started_at: dt.datetime | None = None
    last_read_finished_at: dt.datetime | None = None
    last_read_seconds: float | None = None
    last_read_orders: int = 0
    last_read_pages: int = 0
    last_read_events: int = 0
    last_error: str | None = None
    next_read_due: dt.datetime | None = None
    reader: str | None = None
    undispatched_events: int = 0
    mirrored_orders: int = 0
    states: Mapping[str, int] = field(default_factory=dict)

    def read_completely_since(self, moment: dt.datetime) -> bool:
        """The last read started at or after ``moment``, read at least a page and ended without an
        error (a read OR11 refused before its first page, "not due", records its times but read
        nothing): what a flow waiting for a read newer than its own write asks."""
        started, finished = self.last_read_started_at, self.last_read_finished_at
        return (started is not None and finished is not None and started >= moment and finished >= started
                and self.last_read_pages > 0 and not self.last_error)


class OrderFeedRepository(Protocol):
    """The feed service's unit of work."""

    def status(self, now: dt.datetime) -> FeedStatus: ...

    def cursor_and_due(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The cursor and ``next_read_due`` alone (what a read's gate needs; no counting)."""
        ...

    def take_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Become the reader if nobody holds an unexpired lease; True when taken."""
        ...

    def hold_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Extend our lease to ``until`` if it is still ours (False: another reader took it over;
        write nothing). Also locks the state row for the rest of the transaction."""
        ...

    def release_lease(self, owner: str) -> None:
        """Give the lease back if it is still ours (a dispatch, which records no read)."""
        ...

    def release_lease_of_dead_process(self, executor_prefix: str, own_prefix: str) -> bool:
        """Free a lease whose owner starts with ``executor_prefix`` (this worker's executor id) but
        not with ``own_prefix`` (this process): an earlier process of this worker, killed mid-read.
        True when one was freed."""
        ...

    def end_read(self, owner: str, *, cursor: dt.datetime | None, figures: ReadFigures) -> None:
        """Record the read's figures, move the cursor to ``cursor`` (never backwards; None keeps it)
        and give the lease back, if it is still ours."""
        ...

    def serialise_writes(self, now: dt.datetime) -> None:
        """Lock the state row for this transaction (a refresh writes the mirror outside a read)."""
        ...

    def mirrored(self, order_ids: Sequence[str]) -> dict[str, MirrorOrder]: ...

    def save(self, order: MirrorOrder, *, at: dt.datetime) -> None:
        """Insert or replace the mirror row of ``order`` (``at``: when it changed, our clock)."""
        ...

    def add_events(self, found: Sequence[OrderChange], *, at: dt.datetime) -> None: ...

    def undispatched(self, limit: int) -> list[FeedEvent]:
        """Events not yet published, oldest first."""
        ...

    def mark_dispatched(self, event_ids: Sequence[int], at: dt.datetime) -> None: ...


class OrderMirror(Protocol):
    """The read port over the mirror: what the flows and the console ask instead of OR11."""

    def get(self, order_id: str) -> MirrorOrder | None: ...

    def in_states(self, states: Sequence[str], *, limit: int = 500) -> list[MirrorOrder]:
        """Orders whose marketplace state is one of ``states``, oldest update first."""
        ...

    def changed_since(self, since: dt.datetime, *, limit: int = 500) -> list[MirrorOrder]:
        """Orders whose mirror row changed at or after ``since`` (our clock), oldest change first."""
        ...

    def status(self, now: dt.datetime) -> FeedStatus: ...


class OrderFeedStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[OrderFeedRepository]: ...

    def mirror(self) -> AbstractContextManager[OrderMirror]: ...


__all__ = ["FeedEvent", "FeedStatus", "OrderFeedRepository", "OrderFeedStore", "OrderMirror", "ReadFigures"]
