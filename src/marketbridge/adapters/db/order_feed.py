"""The order feed's storage over SQLAlchemy: :class:`SqlOrderFeedStore` implements
:class:`marketbridge.ports.order_feed.OrderFeedStore` (the write side for ``services.order_feed``
and the :class:`~marketbridge.ports.order_feed.OrderMirror` read port for everyone else).

The lease is a conditional ``UPDATE`` on the connection's ``order_feed_state`` row ("set the owner
where the lease is free or expired"): atomic on both backends, so of two workers only one sees a
row updated. The row itself is created on first use, in a savepoint, so a concurrent first insert
costs the loser nothing but a ``False``. The clock compared is ours (the workers' clocks are
assumed within seconds of each other; the lease lasts minutes).

Every unit of work that writes the mirror begins with an ``UPDATE`` of that same row, so on
PostgreSQL the row lock queues them (a page of a read, a refresh of one order) and on SQLite the
transaction takes the write lock at its first statement (no read-then-write upgrade to fail).
Storage errors come out as the orders port's :class:`~marketbridge.ports.orders.StorageBusy`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.order_feed import FeedEventRow, FeedStateRow, MirroredOrder
from marketbridge.adapters.db.session import Database
from marketbridge.domain.order_feed import (
    ChangeKind,
    MirrorLine,
    MirrorOrder,
    MirrorTracking,
    OrderChange,
)
from marketbridge.ports.order_feed import FeedEvent, FeedStatus, ReadFigures
from marketbridge.ports.orders import StorageBusy


def _to_row(row: MirroredOrder, order: MirrorOrder) -> None:
    row.state = order.state
    row.created_at = order.created_at
    row.updated_at = order.updated_at
    row.acceptance_deadline = order.acceptance_deadline
    row.shipping_deadline = order.shipping_deadline
    row.customer_debited_at = order.customer_debited_at
    row.can_cancel = order.can_cancel
    row.has_incident = order.has_incident
    row.currency = order.currency
    row.shipping_total = order.shipping_total
    row.total_price = order.total_price
    row.lines = [line.as_json() for line in order.lines]
    row.tracking = order.tracking.as_json() if order.tracking is not None else None
    row.fully_refunded = order.fully_refunded


def _from_row(row: MirroredOrder) -> MirrorOrder:
    return MirrorOrder(
        order_id=row.order_id, state=row.state, created_at=row.created_at, updated_at=row.updated_at,
        currency=row.currency, lines=tuple(MirrorLine.from_json(line) for line in row.lines or ()),
        shipping_total=row.shipping_total, total_price=row.total_price,
        acceptance_deadline=row.acceptance_deadline, shipping_deadline=row.shipping_deadline,
        customer_debited_at=row.customer_debited_at, can_cancel=row.can_cancel, has_incident=row.has_incident,
        tracking=MirrorTracking.from_json(row.tracking), fully_refunded=bool(row.fully_refunded),
    )


class _MirrorQueries:
    session: Session
    connection: str

    def get(self, order_id: str) -> MirrorOrder | None:
        row = self.session.get(MirroredOrder, (self.connection, order_id))
        return _from_row(row) if row is not None else None

    def in_states(self, states: Sequence[str], *, limit: int = 500) -> list[MirrorOrder]:
        rows = self.session.scalars(
            select(MirroredOrder).where(MirroredOrder.connection == self.connection,
                                        MirroredOrder.state.in_(list(states)))
            .order_by(MirroredOrder.updated_at, MirroredOrder.order_id).limit(limit)).all()
        return [_from_row(row) for row in rows]

    def changed_since(self, since: dt.datetime, *, limit: int = 500) -> list[MirrorOrder]:
        rows = self.session.scalars(
            select(MirroredOrder).where(MirroredOrder.connection == self.connection,
                                        MirroredOrder.changed_at >= since)
            .order_by(MirroredOrder.changed_at, MirroredOrder.order_id).limit(limit)).all()
        return [_from_row(row) for row in rows]

    def status(self, now: dt.datetime) -> FeedStatus:
        row = self.session.get(FeedStateRow, self.connection, populate_existing=True)
        pending = self.session.scalar(select(func.count()).select_from(FeedEventRow).where(
            FeedEventRow.connection == self.connection, FeedEventRow.dispatched_at.is_(None))) or 0
        states = {str(state): int(n) for state, n in self.session.execute(
            select(MirroredOrder.state, func.count()).where(MirroredOrder.connection == self.connection)
            .group_by(MirroredOrder.state)).all()}
        if row is None:
            return FeedStatus(undispatched_events=int(pending), mirrored_orders=sum(states.values()), states=states)
        reading = row.lease_owner is not None and row.lease_until is not None and row.lease_until > now
        return FeedStatus(
            cursor=row.cursor, last_read_started_at=row.last_read_started_at,
            last_read_finished_at=row.last_read_finished_at, last_read_seconds=row.last_read_seconds,
            last_read_orders=row.last_read_orders, last_read_pages=row.last_read_pages,
            last_read_events=row.last_read_events, last_error=row.last_error, next_read_due=row.next_read_due,
            reader=row.lease_owner if reading else None, undispatched_events=int(pending),
            mirrored_orders=sum(states.values()), states=states)


class SqlOrderMirror(_MirrorQueries):
    """:class:`~marketbridge.ports.order_feed.OrderMirror` on one session (read only)."""

    def __init__(self, session: Session, connection: str) -> None:
        self.session = session
        self.connection = connection


class SqlOrderFeedRepository(_MirrorQueries):
    """:class:`~marketbridge.ports.order_feed.OrderFeedRepository` on one session."""

    def __init__(self, session: Session, connection: str) -> None:
        self.session = session
        self.connection = connection

    def _ensure_state_row(self, now: dt.datetime) -> None:
        if self.session.get(FeedStateRow, self.connection) is not None:
            return
        try:
            with self.session.begin_nested():
                self.session.add(FeedStateRow(connection=self.connection, last_read_orders=0, last_read_pages=0,
                                              last_read_events=0, updated_at=now))
        except IntegrityError:
            pass  # another worker created it first: fine, it exists

    def _update_state(self, *conditions: ColumnElement[bool], **values: object) -> bool:
        """One conditional ``UPDATE`` of the state row; True when it matched (the row count)."""
        result = self.session.execute(
            update(FeedStateRow).where(FeedStateRow.connection == self.connection, *conditions)
            .values(**values).execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    def cursor_and_due(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        row = self.session.get(FeedStateRow, self.connection, populate_existing=True)
        return (row.cursor, row.next_read_due) if row is not None else (None, None)

    def take_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        free = or_(FeedStateRow.lease_owner.is_(None), FeedStateRow.lease_until.is_(None),
                   FeedStateRow.lease_until < now)
        if self._update_state(free, lease_owner=owner, lease_until=until, updated_at=now):
            return True
        self._ensure_state_row(now)
        return self._update_state(free, lease_owner=owner, lease_until=until, updated_at=now)

    def release_lease(self, owner: str) -> None:
        self._update_state(FeedStateRow.lease_owner == owner, lease_owner=None, lease_until=None)

    def release_lease_of_dead_process(self, executor_prefix: str, own_prefix: str) -> bool:
        owner = FeedStateRow.lease_owner
        stale = and_(func.substr(owner, 1, len(executor_prefix)) == executor_prefix,
                     func.substr(owner, 1, len(own_prefix)) != own_prefix)
        return self._update_state(stale, lease_owner=None, lease_until=None)

    def hold_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        return self._update_state(FeedStateRow.lease_owner == owner, lease_until=until, updated_at=now)

    def end_read(self, owner: str, *, cursor: dt.datetime | None, figures: ReadFigures) -> None:
        values: dict[str, object] = {
            "lease_owner": None, "lease_until": None, "last_read_started_at": figures.started_at,
            "last_read_finished_at": figures.finished_at, "last_read_seconds": figures.seconds,
            "last_read_orders": figures.orders, "last_read_pages": figures.pages, "last_read_events": figures.events,
            "last_error": figures.error, "next_read_due": figures.next_read_due, "updated_at": figures.finished_at}
        if not self._update_state(FeedStateRow.lease_owner == owner, **values):
            return  # taken over: the new reader owns the row's figures and cursor now
        if cursor is not None:  # never backwards
            self._update_state(or_(FeedStateRow.cursor.is_(None), FeedStateRow.cursor < cursor), cursor=cursor)

    def serialise_writes(self, now: dt.datetime) -> None:
        if not self._update_state(updated_at=now):
            self._ensure_state_row(now)
            self._update_state(updated_at=now)

    def mirrored(self, order_ids: Sequence[str]) -> dict[str, MirrorOrder]:
        if not order_ids:
            return {}
        rows = self.session.scalars(select(MirroredOrder).where(
            MirroredOrder.connection == self.connection, MirroredOrder.order_id.in_(list(order_ids)))).all()
        return {row.order_id: _from_row(row) for row in rows}

    def save(self, order: MirrorOrder, *, at: dt.datetime) -> None:
        row = self.session.get(MirroredOrder, (self.connection, order.order_id))
        if row is None:
            row = MirroredOrder(connection=self.connection, order_id=order.order_id, first_seen_at=at)
            self.session.add(row)
        _to_row(row, order)
        row.changed_at = at

    def add_events(self, found: Sequence[OrderChange], *, at: dt.datetime) -> None:
        self.session.add_all(FeedEventRow(connection=self.connection, order_id=change.order_id,
                                          kind=change.kind.value, detail=dict(change.detail), created_at=at)
                             for change in found)

    def undispatched(self, limit: int) -> list[FeedEvent]:
        rows = self.session.scalars(select(FeedEventRow).where(
            and_(FeedEventRow.connection == self.connection, FeedEventRow.dispatched_at.is_(None)))
            .order_by(FeedEventRow.id).limit(limit)).all()
        return [FeedEvent(id=row.id, order_id=row.order_id, kind=ChangeKind(row.kind), detail=dict(row.detail or {}),
                          created_at=row.created_at) for row in rows]

    def mark_dispatched(self, event_ids: Sequence[int], at: dt.datetime) -> None:
        if event_ids:
            self.session.execute(update(FeedEventRow).where(FeedEventRow.id.in_(list(event_ids)),
                                                            FeedEventRow.dispatched_at.is_(None))
                                 .values(dispatched_at=at).execution_options(synchronize_session=False))


@contextmanager
def _port_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as error:
        raise StorageBusy(str(error.orig), locked="locked" in str(error)) from error


class SqlOrderFeedStore:
    """:class:`~marketbridge.ports.order_feed.OrderFeedStore` on a :class:`Database`, for one
    marketplace connection (``settings.order_connection``)."""

    def __init__(self, db: Database, connection: str) -> None:
        self.db = db
        self.connection = connection

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlOrderFeedRepository]:
        with _port_errors(), self.db.session() as session:
            yield SqlOrderFeedRepository(session, self.connection)

    @contextmanager
    def mirror(self) -> Iterator[SqlOrderMirror]:
        with _port_errors(), self.db.session() as session:
            yield SqlOrderMirror(session, self.connection)


__all__ = ["SqlOrderFeedRepository", "SqlOrderFeedStore", "SqlOrderMirror"]
