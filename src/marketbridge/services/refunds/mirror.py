"""Mirror in Adobe Commerce a refund that started on the marketplace (a finance button).

The credit memo's comment carries :data:`~marketbridge.services.refunds.states.MIRROR_MARKER` and
the refund id, so :func:`~marketbridge.services.refunds.prepare.prepare` never sends it back as a
refund, and an existing memo with that marker is reused (pressing the button twice creates one).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from marketbridge.adapters.errors import Rejected
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.money import wire_number
from marketbridge.services.refunds.conversions import _dec
from marketbridge.services.refunds.recording import record_creditmemo
from marketbridge.services.refunds.results import MirrorResult
from marketbridge.services.refunds.states import (
    IGNORED,
    MIRROR_MARKER,
    NEW,
    RefundActionError,
)

if TYPE_CHECKING:
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.runtime import Runtime


def mirror_marketplace_refund(runtime: Runtime, refund_id: str, *, actor: str = "system") -> MirrorResult:
    """Create the Adobe Commerce credit memo matching a refund that started on the marketplace.

    The memo's comment carries :data:`MIRROR_MARKER` so it is never sent back as a refund; an
    existing memo with that marker is reused, so pressing the button twice creates one memo.
    """
    with runtime.refunds_store.unit_of_work() as repo:
        row = repo.marketplace_refund(refund_id)
        if row is None:
            raise RefundActionError(f"There is no marketplace refund {refund_id}.")
        if row.origin == "creditmemo":
            raise RefundActionError(f"Refund {refund_id} came from credit memo {row.creditmemo_id}; it already has one.")
        if row.creditmemo_id is not None:
            return MirrorResult(refund_id, row.creditmemo_id, created=False)
        order_id, sku = row.order_id, repo.skus.magento_sku_for(row.sku)
        amount, shipping, quantity = row.amount, row.shipping_amount, row.quantity
    order = runtime.magento.find_order_by_ext_id(order_id)
    if order is None:
        raise RefundActionError(f"No Adobe Commerce order carries marketplace order {order_id}, so there is nothing "
                                "to attach a credit memo to.")
    marker = f"{MIRROR_MARKER} {refund_id}"
    for memo in runtime.magento.iterate_creditmemos(order_id=order.entity_id):
        if any(marker == (c.comment or "").strip() or marker + " " in (c.comment or "") + " " for c in memo.comments):
            return _link_mirror(runtime, refund_id, memo.entity_id, actor, created=False)
    from marketbridge.adapters.magento import models as magento_models

    item = next((i for i in order.top_level_items() if i.sku == sku), None)
    items: list[magento_models.DocumentItemInput] = []
    goods = Decimal(0)
    if item is not None and amount > 0:
        left = int(item.qty_invoiced - item.qty_refunded) if item.qty_invoiced else int(item.qty_ordered - item.qty_refunded)
        unit = _dec(getattr(item, "price_incl_tax", None) or item.price)
        qty = quantity or (int((amount / unit).to_integral_value()) if unit else 0)
        qty = max(1, min(qty, left)) if left > 0 else 0
        if qty:
            items.append(magento_models.DocumentItemInput(order_item_id=item.item_id, qty=qty))
            goods = unit * qty
    if not items:
        raise RefundActionError(f"Adobe Commerce order {order.increment_id} has no refundable {sku} left, so the "
                                "refund cannot be mirrored by a credit memo; record it by hand.")
    difference = amount - goods
    try:
        memo_id = runtime.magento.refund_order(
            order.entity_id, items, shipping_amount=wire_number(shipping),  # Adobe Commerce reads JSON numbers
            adjustment_positive=wire_number(max(difference, Decimal(0))) or 0.0,
            adjustment_negative=wire_number(max(-difference, Decimal(0))) or 0.0,
            comment=marker,
        )
    except Rejected as error:
        raise RefundActionError(f"Adobe Commerce refused the credit memo: {error.message}") from None
    return _link_mirror(runtime, refund_id, memo_id, actor, created=True)


def _link_mirror(runtime: Runtime, refund_id: str, memo_id: int, actor: str, *, created: bool) -> MirrorResult:
    record_creditmemo(runtime, memo_id, source="mirror")
    with runtime.refunds_store.unit_of_work() as repo:
        row = repo.marketplace_refund(refund_id)
        assert row is not None
        row.creditmemo_id = memo_id
        out = repo.memo(memo_id)
        if out.status == NEW:
            out.status, out.problem, out.order_id = IGNORED, f"mirrors marketplace refund {refund_id}: nothing to send", row.order_id
        repo.issues.clear(refunds_domain.MARKETPLACE_REFUND, f"refund:{refund_id}", by=actor)
        repo.issues.audit(actor, "refunds.mirror", "refund", refund_id, creditmemo_id=memo_id)
    return MirrorResult(refund_id, memo_id, created=created)
