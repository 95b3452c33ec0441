"""The refunds flow's storage over SQLAlchemy: :class:`SqlRefundsStore` implements
:class:`marketbridge.ports.RefundsStore` (issue 18 item 2), so the queries on ``refunds_out``,
``marketplace_refunds``, ``refund_reasons`` and the flow's stream cursors are written here and
nowhere in the flow. One unit of work is one :meth:`Database.session` (committed at the end of the
block, rolled back on an error), exactly the transaction the flow opened itself before.

The issue records the flow raises, the order records it moves to refunded and the SKU links it
reads go through the :class:`marketbridge.ports.IssueLog`, :class:`marketbridge.ports.OrderRecords`
and :class:`marketbridge.ports.SkuLinks` the composition root hands in (``services.issues``,
``services.orders.record``, ``services.skus``), on the same session: their rules live in the
services, and this adapter does not import them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.cursors import StreamCursors
from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
from marketbridge.adapters.db.session import Database
from marketbridge.ports import IssueLog, OrderRecords, SkuLinks


class SqlRefundsRepository(StreamCursors):
    """:class:`marketbridge.ports.RefundsRepository` on one session."""

    def __init__(self, session: Session, issues: IssueLog, orders: OrderRecords, skus: SkuLinks) -> None:
        self.session = session
        self._issues = issues
        self._orders = orders
        self._skus = skus

    @property
    def issues(self) -> IssueLog:
        return self._issues

    @property
    def orders(self) -> OrderRecords:
        return self._orders

    @property
    def skus(self) -> SkuLinks:
        return self._skus

    # ------------------------------------------------------------------ refunds_out
    def memo(self, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
        query = select(RefundOut).where(RefundOut.creditmemo_id == creditmemo_id)
        row = self.session.scalar(query.with_for_update() if lock else query)
        if row is None:
            row = RefundOut(creditmemo_id=creditmemo_id, status="new", source="manual")
            self.session.add(row)
            self.session.flush()
        return row

    def has_memo(self, creditmemo_id: int) -> bool:
        return self.session.scalar(select(RefundOut.id).where(RefundOut.creditmemo_id == creditmemo_id)) is not None

    def add_memo(self, creditmemo_id: int, *, status: str, source: str) -> None:
        self.session.add(RefundOut(creditmemo_id=creditmemo_id, status=status, source=source))
        self.session.flush()

    def add_memo_if_absent(self, creditmemo_id: int, *, status: str, source: str) -> bool:
        # an INSERT's result is a CursorResult (rowcount: 0 when another worker stored it first)
        inserted = cast(CursorResult[Any], self.session.execute(
            dialect_insert(self.session, RefundOut).values(creditmemo_id=creditmemo_id, status=status, source=source)
            .on_conflict_do_nothing(index_elements=["creditmemo_id"]))).rowcount
        return bool(inserted)

    def memo_by_key(self, key: str) -> RefundOut | None:
        row = None
        if key.isdigit():
            row = self.session.scalar(select(RefundOut).where(RefundOut.creditmemo_id == int(key)))
        if row is None:
            row = self.session.scalar(select(RefundOut).where(RefundOut.creditmemo_increment_id == key))
        return row

    def memos_in(self, statuses: Sequence[str]) -> Sequence[RefundOut]:
        return self.session.scalars(select(RefundOut).where(RefundOut.status.in_(tuple(statuses)))).all()

    def memo_on_order_in(self, order_id: str, statuses: Sequence[str]) -> bool:
        return self.session.scalar(select(RefundOut.id).where(
            RefundOut.order_id == order_id, RefundOut.status.in_(tuple(statuses)))) is not None

    def list_memos(self, *, status: str | None, order_id: str | None, limit: int) -> Sequence[RefundOut]:
        query = select(RefundOut).order_by(RefundOut.id.desc()).limit(limit)
        if status:
            query = query.where(RefundOut.status == status)
        if order_id:
            query = query.where(RefundOut.order_id == order_id)
        return self.session.scalars(query).all()

    def counts_by_status(self) -> list[tuple[str, int]]:
        rows = self.session.execute(select(RefundOut.status, func.count()).group_by(RefundOut.status)).all()
        return [(str(status), int(n)) for status, n in rows]

    def claim_send(self, creditmemo_id: int, seen_attempts: int, statuses: Sequence[str], *,
                   status: str) -> bool:
        claim = cast(CursorResult[Any], self.session.execute(  # an UPDATE's result has a rowcount
            update(RefundOut)
            .where(RefundOut.creditmemo_id == creditmemo_id, RefundOut.attempts == seen_attempts,
                   RefundOut.status.in_(tuple(statuses)))
            .values(status=status, send_started_at=utcnow(), attempts=seen_attempts + 1, in_flight=True,
                    updated_at=utcnow())
        ))
        return claim.rowcount == 1

    # ------------------------------------------------------------------ marketplace_refunds
    def marketplace_refund(self, refund_id: str) -> MarketplaceRefund | None:
        return self.session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == refund_id))

    def add_marketplace_refund(self, **values: Any) -> None:
        self.session.add(MarketplaceRefund(**values))

    def known_refund_ids(self) -> set[str]:
        return set(self.session.scalars(select(MarketplaceRefund.refund_id)).all())

    def refunds_of_memo(self, creditmemo_id: int) -> Sequence[MarketplaceRefund]:
        return self.session.scalars(select(MarketplaceRefund).where(MarketplaceRefund.creditmemo_id == creditmemo_id)).all()

    def refund_states(self, refund_ids: Sequence[str]) -> list[str]:
        return list(self.session.scalars(select(MarketplaceRefund.state).where(
            MarketplaceRefund.refund_id.in_(list(refund_ids)))).all())

    def list_marketplace_refunds(self, *, origin: str | None, order_id: str | None,
                                 limit: int) -> Sequence[MarketplaceRefund]:
        query = select(MarketplaceRefund).order_by(MarketplaceRefund.id.desc()).limit(limit)
        if origin:
            query = query.where(MarketplaceRefund.origin == origin)
        if order_id:
            query = query.where(MarketplaceRefund.order_id == order_id)
        return self.session.scalars(query).all()

    def order_ids_to_follow(self, sent_status: str) -> list[str]:
        ours = self.session.scalars(select(RefundOut.order_id).where(RefundOut.status == sent_status)).all()
        waiting = self.session.scalars(select(MarketplaceRefund.order_id).where(MarketplaceRefund.state != "REFUNDED")).all()
        return sorted({o for o in [*ours, *waiting] if o})

    # ------------------------------------------------------------------ cursors and reasons
    def valid_reasons(self) -> dict[str, RefundReason]:
        return {r.code: r for r in self.session.scalars(select(RefundReason).where(RefundReason.type == "REFUND")).all()}

    def store_reason(self, code: str, *, label: str, type_: str, is_shop_right: bool, at: dt.datetime) -> None:
        row = self.session.get(RefundReason, code)
        if row is None:
            self.session.add(RefundReason(code=code, label=label, type=type_, is_shop_right=is_shop_right, fetched_at=at))
        else:
            row.label, row.type, row.is_shop_right, row.fetched_at = label, type_, is_shop_right, at


class SqlRefundsStore:
    """:class:`marketbridge.ports.RefundsStore` on a :class:`Database`; ``issues``, ``orders`` and
    ``skus`` make the issue log, the order records and the SKU links of a session."""

    def __init__(self, db: Database, issues: Callable[[Session], IssueLog],
                 orders: Callable[[Session], OrderRecords], skus: Callable[[Session], SkuLinks]) -> None:
        self.db = db
        self._issues = issues
        self._orders = orders
        self._skus = skus

    def on_session(self, session: Session) -> SqlRefundsRepository:
        """A repository on a transaction the caller owns (the webhook dispatcher's): nothing is
        committed here."""
        return SqlRefundsRepository(session, self._issues(session), self._orders(session), self._skus(session))

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlRefundsRepository]:
        with self.db.session() as session:
            yield self.on_session(session)
