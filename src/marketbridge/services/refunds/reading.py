"""Read views of the refunds flow (API, CLI, console) and the person's Retry command."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut
from marketbridge.domain import refunds as refunds_domain
from marketbridge.services import issues as issue_service
from marketbridge.services.refunds.polling import workflow_id
from marketbridge.services.refunds.recording import _object_id
from marketbridge.services.refunds.results import (
    MarketplaceRefundDetail,
    MarketplaceRefundView,
    RefundDetail,
    RefundView,
    RetryRequested,
)
from marketbridge.services.refunds.states import (
    HELD,
    NEW,
    RefundActionError,
)

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _refund_json(row: RefundOut) -> dict[str, Any]:
    return {
        "creditmemo_id": row.creditmemo_id, "creditmemo_increment_id": row.creditmemo_increment_id,
        "magento_order_id": row.magento_order_id, "order_id": row.order_id, "status": row.status,
        "source": row.source, "currency": row.currency, "tax_mode": row.tax_mode, "total": str(row.total),
        "memo_total": str(row.memo_total),
        "lines": [{**line, "amount": str(refunds_domain.from_pence(int(line["item_amount"]) + int(line["adjustment"]))),
                   "shipping": str(refunds_domain.from_pence(int(line["shipping_amount"])))} for line in row.lines or []],
        "refund_ids": list(row.refund_ids or []), "problem": row.problem, "attempts": row.attempts,
        "sent_at": _iso(row.sent_at), "refunded_at": _iso(row.refunded_at), "created_at": _iso(row.created_at),
    }


def _marketplace_refund_json(row: MarketplaceRefund) -> dict[str, Any]:
    return {
        "refund_id": row.refund_id, "order_id": row.order_id, "order_line_id": row.order_line_id, "sku": row.sku,
        "origin": row.origin, "creditmemo_id": row.creditmemo_id, "amount": str(row.amount),
        "shipping_amount": str(row.shipping_amount), "quantity": row.quantity, "reason_code": row.reason_code,
        "currency": row.currency, "state": row.state, "marketplace_created_at": _iso(row.marketplace_created_at),
        "first_seen": _iso(row.first_seen),
    }


def list_refunds(session: Session, *, status: str | None = None, order_id: str | None = None,
                 limit: int = 200) -> list[RefundView]:
    query = select(RefundOut).order_by(RefundOut.id.desc()).limit(limit)
    if status:
        query = query.where(RefundOut.status == status)
    if order_id:
        query = query.where(RefundOut.order_id == order_id)
    return [RefundView.model_validate(_refund_json(r)) for r in session.scalars(query).all()]


def list_marketplace_refunds(session: Session, *, origin: str | None = None, order_id: str | None = None,
                             limit: int = 200) -> list[MarketplaceRefundView]:
    query = select(MarketplaceRefund).order_by(MarketplaceRefund.id.desc()).limit(limit)
    if origin:
        query = query.where(MarketplaceRefund.origin == origin)
    if order_id:
        query = query.where(MarketplaceRefund.order_id == order_id)
    return [MarketplaceRefundView.model_validate(_marketplace_refund_json(r)) for r in session.scalars(query).all()]


def show(session: Session, key: str) -> RefundDetail | MarketplaceRefundDetail | None:
    """A credit memo (entity id or increment id) with its marketplace refunds, or a refund id."""
    row = None
    if key.isdigit():
        row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_id == int(key)))
    if row is None:
        row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_increment_id == key))
    if row is not None:
        refunds = session.scalars(select(MarketplaceRefund).where(MarketplaceRefund.creditmemo_id == row.creditmemo_id)).all()
        return RefundDetail.model_validate(
            {**_refund_json(row), "marketplace_refunds": [_marketplace_refund_json(r) for r in refunds]})
    refund = session.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == key))
    if refund is None:
        return None
    return MarketplaceRefundDetail.model_validate({"marketplace_refund": _marketplace_refund_json(refund)})


def request_retry(runtime: Runtime, key: str, *, actor: str) -> RetryRequested:
    """A person fixed the cause of a held memo: plan it again (as a new workflow round). Audited."""
    with runtime.db.session() as session:
        row = None
        if key.isdigit():
            row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_id == int(key)))
        if row is None:
            row = session.scalar(select(RefundOut).where(RefundOut.creditmemo_increment_id == key))
        if row is None:
            raise LookupError(f"no credit memo {key}")
        if row.status != HELD:
            raise RefundActionError(f"Credit memo {row.creditmemo_increment_id or row.creditmemo_id} is {row.status}; "
                                    "only a held credit memo can be retried.")
        row.status, row.workflow_round = NEW, row.workflow_round + 1
        issue_service.audit(session, actor, "refunds.retry", "refund", _object_id(row))
        return RetryRequested(row.creditmemo_id, workflow_id(row.creditmemo_id, row.workflow_round))


def counts_by_status(session: Session) -> list[tuple[str, int]]:
    """Credit memos per status (only the statuses present), sorted by status."""
    rows = session.execute(select(RefundOut.status, func.count()).group_by(RefundOut.status)).all()
    return sorted((str(status), int(n)) for status, n in rows)
