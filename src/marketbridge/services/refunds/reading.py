"""Read views of the refunds flow (API, CLI, console) and the person's Retry command."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from marketbridge.domain import refunds as refunds_domain
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
    from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut
    from marketbridge.ports import RefundsRepository
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


def list_refunds(repo: RefundsRepository, *, status: str | None = None, order_id: str | None = None,
                 limit: int = 200) -> list[RefundView]:
    """Credit memos, newest first (``status`` / ``order_id`` filter when given)."""
    return [RefundView.model_validate(_refund_json(r))
            for r in repo.list_memos(status=status, order_id=order_id, limit=limit)]


def list_marketplace_refunds(repo: RefundsRepository, *, origin: str | None = None, order_id: str | None = None,
                             limit: int = 200) -> list[MarketplaceRefundView]:
    """Refunds on marketplace lines, newest first (``origin`` / ``order_id`` filter when given)."""
    return [MarketplaceRefundView.model_validate(_marketplace_refund_json(r))
            for r in repo.list_marketplace_refunds(origin=origin, order_id=order_id, limit=limit)]


def show(repo: RefundsRepository, key: str) -> RefundDetail | MarketplaceRefundDetail | None:
    """A credit memo (entity id or increment id) with its marketplace refunds, or a refund id."""
    row = repo.memo_by_key(key)
    if row is not None:
        refunds = repo.refunds_of_memo(row.creditmemo_id)
        return RefundDetail.model_validate(
            {**_refund_json(row), "marketplace_refunds": [_marketplace_refund_json(r) for r in refunds]})
    refund = repo.marketplace_refund(key)
    if refund is None:
        return None
    return MarketplaceRefundDetail.model_validate({"marketplace_refund": _marketplace_refund_json(refund)})


def request_retry(runtime: Runtime, key: str, *, actor: str) -> RetryRequested:
    """A person fixed the cause of a held memo: plan it again (as a new workflow round). Audited."""
    with runtime.refunds_store.unit_of_work() as repo:
        row = repo.memo_by_key(key)
        if row is None:
            raise LookupError(f"no credit memo {key}")
        if row.status != HELD:
            raise RefundActionError(f"Credit memo {row.creditmemo_increment_id or row.creditmemo_id} is {row.status}; "
                                    "only a held credit memo can be retried.")
        row.status, row.workflow_round = NEW, row.workflow_round + 1
        repo.issues.audit(actor, "refunds.retry", "refund", _object_id(row))
        return RetryRequested(row.creditmemo_id, workflow_id(row.creditmemo_id, row.workflow_round))


def counts_by_status(repo: RefundsRepository) -> list[tuple[str, int]]:
    """Credit memos per status (only the statuses present), sorted by status."""
    return sorted(repo.counts_by_status())
