"""Recording credit memos (step 1 of the flow) and the record helpers every step shares: one
``refunds_out`` record per memo, one open issue per memo (the latest reason). Storage is the flow's
port (``runtime.refunds_store``, :class:`marketbridge.ports.RefundsStore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.services.refunds.states import (
    HELD,
    NEW,
)

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.refunds import RefundOut
    from marketbridge.ports import RefundsRepository
    from marketbridge.runtime import Runtime


def record_creditmemo(runtime: Runtime, creditmemo_id: int, *, source: str = "poll") -> bool:
    """Store a credit memo id before anything acts on it. True when it was new."""
    store = runtime.refunds_store
    with store.unit_of_work() as repo:  # a read first: a memo already known takes no write lock
        if repo.has_memo(creditmemo_id):
            return False
    with store.unit_of_work() as repo:
        return repo.add_memo_if_absent(creditmemo_id, status=NEW, source=source)  # False: another worker stored it first


def _object_id(row: RefundOut) -> str:
    return f"creditmemo:{row.creditmemo_increment_id or row.creditmemo_id}"


def _hold(repo: RefundsRepository, row: RefundOut, type_: Any, message: str, detail: str = "") -> None:
    row.status = HELD
    row.problem = message
    for other in (refunds_domain.REFUND_NOT_SENT, refunds_domain.REFUND_REFUSED, refunds_domain.REFUND_ORDER_UNKNOWN,
                  refunds_domain.REFUND_ADJUSTMENT_UNALLOCATED, refunds_domain.REFUND_DELAYED):
        if other is not type_:  # one open problem per memo: the latest reason
            repo.issues.clear(other, _object_id(row))
    repo.issues.record(IssueReport(
        type=type_, object_id=_object_id(row), message=message, detail=detail,
        context={"creditmemo_id": row.creditmemo_id, "order_id": row.order_id},
    ))


def _clear_all(repo: RefundsRepository, row: RefundOut) -> None:
    for type_ in (refunds_domain.REFUND_NOT_SENT, refunds_domain.REFUND_REFUSED, refunds_domain.REFUND_ORDER_UNKNOWN,
                  refunds_domain.REFUND_ADJUSTMENT_UNALLOCATED, refunds_domain.REFUND_DELAYED):
        repo.issues.clear(type_, _object_id(row))
