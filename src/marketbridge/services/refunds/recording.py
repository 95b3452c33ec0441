"""Recording credit memos (step 1 of the flow) and the row helpers every step shares: one
``refunds_out`` row per memo, one open issue per memo (the latest reason)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.services import issues as issue_service
from marketbridge.services.refunds.states import (
    HELD,
    NEW,
)

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime


def record_creditmemo(runtime: Runtime, creditmemo_id: int, *, source: str = "poll") -> bool:
    """Store a credit memo id before anything acts on it. True when it was new."""
    with runtime.db.session() as session:
        if session.scalar(select(RefundOut.id).where(RefundOut.creditmemo_id == creditmemo_id)) is not None:
            return False
    try:
        with runtime.db.session() as session:
            session.add(RefundOut(creditmemo_id=creditmemo_id, status=NEW, source=source))
        return True
    except IntegrityError:  # another worker stored it first
        return False


def _row(session: Session, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
    """The memo's row (created if missing); ``lock`` takes a row lock on PostgreSQL for a
    check-then-write (SQLite serialises writers anyway)."""
    query = select(RefundOut).where(RefundOut.creditmemo_id == creditmemo_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        row = RefundOut(creditmemo_id=creditmemo_id, status=NEW, source="manual")
        session.add(row)
        session.flush()
    return row


def _object_id(row: RefundOut) -> str:
    return f"creditmemo:{row.creditmemo_increment_id or row.creditmemo_id}"


def _hold(session: Session, row: RefundOut, type_: Any, message: str, detail: str = "") -> None:
    row.status = HELD
    row.problem = message
    for other in (refunds_domain.REFUND_NOT_SENT, refunds_domain.REFUND_REFUSED, refunds_domain.REFUND_ORDER_UNKNOWN,
                  refunds_domain.REFUND_ADJUSTMENT_UNALLOCATED, refunds_domain.REFUND_DELAYED):
        if other is not type_:  # one open problem per memo: the latest reason
            issue_service.clear(session, other, _object_id(row))
    issue_service.record(session, IssueReport(
        type=type_, object_id=_object_id(row), message=message, detail=detail,
        context={"creditmemo_id": row.creditmemo_id, "order_id": row.order_id},
    ))


def _clear_all(session: Session, row: RefundOut) -> None:
    for type_ in (refunds_domain.REFUND_NOT_SENT, refunds_domain.REFUND_REFUSED, refunds_domain.REFUND_ORDER_UNKNOWN,
                  refunds_domain.REFUND_ADJUSTMENT_UNALLOCATED, refunds_domain.REFUND_DELAYED):
        issue_service.clear(session, type_, _object_id(row))


def _known_refund_ids(session: Session) -> set[str]:
    return set(session.scalars(select(MarketplaceRefund.refund_id)).all())


def _valid_reasons(session: Session) -> dict[str, RefundReason]:
    return {r.code: r for r in session.scalars(select(RefundReason).where(RefundReason.type == "REFUND")).all()}
