"""The orders flow's storage over SQLAlchemy: :class:`SqlOrdersStore` implements
:class:`marketbridge.ports.OrdersStore` (issue 18 item 2), so the flow's queries and writes on
``marketplace_orders``, ``order_lines``, ``order_transitions``, its OR11 cursor and the stock waits in
``issue_records`` are written here and nowhere in the services. One unit of work is one
:meth:`Database.session` (committed at the end of the block, rolled back on an error), exactly the
transaction the callers opened themselves before; the SQLAlchemy errors the exactly-once path acts
on come out of it as the port's exceptions (:func:`_port_errors`), the original chained.

Other flows that already hold a session (the stock flow's apply, the personal-data purge, the
:class:`~marketbridge.ports.OrderRecords` of the other flows' units of work) read through
:class:`SqlOrdersRepository` on that session, so their reads stay in their own transaction. The
rules (which states count as sold, which pairs need a workflow) stay in the services, which pass
them in: this adapter does not import them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from marketbridge.adapters.db.cursors import StreamCursors
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine, OrderTransition
from marketbridge.adapters.db.session import Database
from marketbridge.ports import IssueLog, SkuLinks, StockRecords
from marketbridge.ports.orders import (
    IssueOnOrder,
    OpenLine,
    OrderAlreadyRecorded,
    OrderChangedUnderUs,
    StockWait,
    StorageBusy,
    WorkflowCandidate,
)

if TYPE_CHECKING:
    from marketbridge.settings import Settings

#: One pass of the personal-data retention rules on a session (``services.personal_data.purge``).
RetentionPass = Callable[[Session, "Settings", dt.datetime], dict[str, int]]

#: Line states that gave the units back to the offer: they are not sold any more.
_RELEASED_LINE_STATES = ("REFUSED", "CANCELED")


class SqlOrdersRepository(StreamCursors):
    """:class:`marketbridge.ports.OrdersRepository` on one session.

    ``issues``, ``skus``, ``stock`` and ``retention`` come from the composition root
    (:class:`SqlOrdersStore`). Another flow reading the orders flow's answers on its own session
    builds ``SqlOrdersRepository(session)`` without them: it never raises the orders flow's issues
    nor runs its housekeeping, and asking for them then is a wiring error, reported as such."""

    def __init__(self, session: Session, issues: IssueLog | None = None, retention: RetentionPass | None = None,
                 skus: SkuLinks | None = None, stock: StockRecords | None = None) -> None:
        self.session = session
        self._issues = issues
        self._retention = retention
        self._skus = skus
        self._stock = stock

    @property
    def issues(self) -> IssueLog:
        if self._issues is None:
            raise RuntimeError("this orders repository was built for reads only (no issue log)")
        return self._issues

    @property
    def skus(self) -> SkuLinks:
        if self._skus is None:
            raise RuntimeError("this orders repository was built for reads only (no SKU links)")
        return self._skus

    @property
    def stock(self) -> StockRecords:
        if self._stock is None:
            raise RuntimeError("this orders repository was built for reads only (no stock records)")
        return self._stock

    def add_order(self, order: MarketplaceOrder) -> None:
        self.session.add(order)
        self.session.flush()

    def add_transition(self, order: MarketplaceOrder, *, from_state: str | None, to_state: str, at: dt.datetime,
                       actor: str, facts: dict[str, Any]) -> None:
        self.session.add(OrderTransition(order_pk=order.id, from_state=from_state, to_state=to_state, at=at,
                                         actor=actor, facts=facts))

    def flush(self) -> None:
        self.session.flush()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.session.begin_nested():
            yield

    def detach(self, order: MarketplaceOrder) -> None:
        self.session.expunge(order)

    def run_retention(self, settings: Settings, now: dt.datetime) -> dict[str, int]:
        if self._retention is None:
            raise RuntimeError("this orders repository was built for reads only (no retention pass)")
        return self._retention(self.session, settings, now)

    def active_issues_on_orders(self, type_code: str, active_states: Sequence[str], *,
                                limit: int = 500) -> list[IssueOnOrder]:
        records = self.session.scalars(select(IssueRecord).where(
            IssueRecord.type == type_code, IssueRecord.state.in_(list(active_states)))
            .order_by(IssueRecord.last_seen.desc(), IssueRecord.id.desc()).limit(limit)).all()
        return [IssueOnOrder(order_id=r.object_id, state=(r.context or {}).get("state")) for r in records]

    def order(self, order_id: str, connection: str | None = None) -> MarketplaceOrder | None:
        query = select(MarketplaceOrder).where(MarketplaceOrder.order_id == order_id)
        if connection is not None:
            query = query.where(MarketplaceOrder.connection == connection)
        return self.session.scalars(query.options(selectinload(MarketplaceOrder.lines)).limit(1)).first()

    def list_orders(self, connection: str, *, state: str | None, limit: int, offset: int) -> Sequence[MarketplaceOrder]:
        query = select(MarketplaceOrder).where(MarketplaceOrder.connection == connection)
        if state:
            query = query.where(MarketplaceOrder.state == state)
        query = query.order_by(MarketplaceOrder.marketplace_created_at.desc(), MarketplaceOrder.id.desc())
        return self.session.scalars(query.limit(limit).offset(offset).options(selectinload(MarketplaceOrder.lines))).all()

    def counts_by_state(self) -> list[tuple[str, int]]:
        rows = self.session.execute(select(MarketplaceOrder.state, func.count()).group_by(MarketplaceOrder.state)).all()
        return [(str(state), int(n)) for state, n in rows]

    def by_acceptance_deadline(self, states: Sequence[str], *, limit: int) -> Sequence[MarketplaceOrder]:
        return self.session.scalars(
            select(MarketplaceOrder).where(MarketplaceOrder.state.in_(list(states)))
            .order_by(MarketplaceOrder.acceptance_deadline.is_(None), MarketplaceOrder.acceptance_deadline).limit(limit)
        ).all()

    def search(self, *, state: str | None, q: str | None, limit: int) -> Sequence[MarketplaceOrder]:
        query = select(MarketplaceOrder)
        if state:
            query = query.where(MarketplaceOrder.state == state)
        if q:
            query = query.where(MarketplaceOrder.order_id.contains(q, autoescape=True)
                                | MarketplaceOrder.magento_increment_id.contains(q, autoescape=True))
        return self.session.scalars(query.order_by(MarketplaceOrder.marketplace_created_at.desc(),
                                                   MarketplaceOrder.id.desc()).limit(limit)).all()

    def in_states(self, states: Sequence[str], *, limit: int | None) -> Sequence[MarketplaceOrder]:
        return self.session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.state.in_(list(states)))
                                    .limit(limit)).all()

    def workflow_candidates(self, connection: str, pairs: Sequence[tuple[str, str]], *,
                            limit: int) -> list[WorkflowCandidate]:
        if not pairs:
            return []
        rows = self.session.execute(
            select(MarketplaceOrder.order_id, MarketplaceOrder.state, MarketplaceOrder.marketplace_state,
                   MarketplaceOrder.create_attempt, MarketplaceOrder.shipping_address)
            .where(MarketplaceOrder.connection == connection,
                   or_(false(), *[and_(MarketplaceOrder.state == state, MarketplaceOrder.marketplace_state == mp)
                                  for state, mp in pairs]))
            .order_by(MarketplaceOrder.id).limit(limit)).all()
        return [WorkflowCandidate(order_id=order_id, state=state, marketplace_state=mp, create_attempt=attempt or 0,
                                  has_address=bool(address))
                for order_id, state, mp, attempt, address in rows]

    def stock_waits_due(self, type_code: str, active_states: Sequence[str], cutoff: dt.datetime) -> list[StockWait]:
        records = self.session.scalars(select(IssueRecord).where(
            IssueRecord.type == type_code, IssueRecord.state.in_(list(active_states)),
            IssueRecord.last_seen <= cutoff)).all()
        return [StockWait(issue_id=r.id, order_id=r.object_id, attempt=int((r.context or {}).get("attempt", 0)))
                for r in records]

    def touch_issue(self, issue_id: int, at: dt.datetime) -> None:
        record = self.session.get(IssueRecord, issue_id)
        if record is not None:
            record.last_seen = at

    def lines_in_states(self, connection: str, states: Sequence[str]) -> list[OpenLine]:
        rows = self.session.execute(
            select(MarketplaceOrder.order_id, OrderLine.magento_sku, OrderLine.quantity, OrderLine.accepted)
            .join(OrderLine, OrderLine.order_pk == MarketplaceOrder.id)
            .where(MarketplaceOrder.connection == connection, MarketplaceOrder.state.in_(list(states)),
                   OrderLine.magento_sku.is_not(None))
        ).all()
        return [OpenLine(order_id=order_id, magento_sku=sku, quantity=float(quantity), accepted=accepted)
                for order_id, sku, quantity, accepted in rows if sku is not None]

    def units_in_states(self, skus: Sequence[str], states: Sequence[str]) -> dict[str, float]:
        wanted = set(skus)
        rows = self.session.execute(
            select(OrderLine.magento_sku, func.sum(OrderLine.quantity))
            .join(MarketplaceOrder, OrderLine.order_pk == MarketplaceOrder.id)
            .where(MarketplaceOrder.state.in_(sorted(states)),
                   OrderLine.magento_sku.is_not(None),
                   or_(OrderLine.accepted.is_(None), OrderLine.accepted.is_(True)),
                   OrderLine.marketplace_state.not_in(_RELEASED_LINE_STATES))
            .group_by(OrderLine.magento_sku))
        return {sku: float(units) for sku, units in rows if sku in wanted and units}

    def due_for_purge(self, cutoff: dt.datetime, *, batch: int) -> Sequence[MarketplaceOrder]:
        return self.session.scalars(select(MarketplaceOrder).where(
            MarketplaceOrder.personal_data_purged_at.is_(None), MarketplaceOrder.received_at < cutoff,
        ).order_by(MarketplaceOrder.id).limit(batch)).all()


@contextmanager
def _port_errors() -> Iterator[None]:
    """SQLAlchemy's errors as the port's: a stale version (the ORM's optimistic check on
    ``marketplace_orders``) is :class:`OrderChangedUnderUs`, a unique key refusing an insert is
    :class:`OrderAlreadyRecorded`, an operational error (a lock, a dropped connection) is
    :class:`StorageBusy` (``locked`` when its text says so, as the poll's retry always tested)."""
    try:
        yield
    except StaleDataError as error:
        raise OrderChangedUnderUs(str(error)) from error
    except IntegrityError as error:
        raise OrderAlreadyRecorded(str(error)) from error
    except OperationalError as error:
        raise StorageBusy(str(error.orig), locked="locked" in str(error)) from error


class SqlOrdersStore:
    """:class:`marketbridge.ports.OrdersStore` on a :class:`Database`; ``issues``, ``skus`` and
    ``stock`` make the issue log, the SKU links and the stock flow's records of a session
    (``services.issues.RepositoryIssueLog``, ``adapters.db.skus.SqlSkuLinks``,
    ``services.stock.queries.SessionStockRecords``) and ``retention`` is the personal-data pass
    (``services.personal_data.purge``): their rules live in the services, which this adapter does
    not import."""

    def __init__(self, db: Database, *, issues: Callable[[Session], IssueLog], retention: RetentionPass,
                 skus: Callable[[Session], SkuLinks], stock: Callable[[Session], StockRecords]) -> None:
        self.db = db
        self._issues = issues
        self._retention = retention
        self._skus = skus
        self._stock = stock

    def on_session(self, session: Session) -> SqlOrdersRepository:
        """A repository on a transaction the caller owns: nothing is committed here, and its errors
        stay SQLAlchemy's (the caller's transaction handles them)."""
        return SqlOrdersRepository(session, self._issues(session), self._retention, self._skus(session),
                                   self._stock(session))

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlOrdersRepository]:
        with _port_errors(), self.db.session() as session:
            yield self.on_session(session)
