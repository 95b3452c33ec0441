"""Conversions between the Adobe Commerce / Mirakl read models and the pure rules of
:mod:`marketbridge.domain.refunds` (amounts as Decimal, both ways)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.errors import NotFound
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import refunds as refunds_domain

if TYPE_CHECKING:
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.runtime import Runtime
    from marketbridge.settings import Settings


def refund_rules(settings: Settings) -> refunds_domain.RefundRules:
    return refunds_domain.RefundRules(
        tax_rule=str(settings.refund_tax_rule.value if hasattr(settings.refund_tax_rule, "value") else settings.refund_tax_rule),
        adjustment_policy=refunds_domain.AdjustmentPolicy(settings.refund_adjustment_policy),
        reason_map=dict(settings.refund_reason_map),
        default_reason=settings.refund_reason_default,
    )


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _num(obj: Any, name: str) -> Decimal:
    """A money field of a Magento read model (known field or extra)."""
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name)
    return _dec(value)


def _parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # Magento writes UTC without a zone


def memo_from_magento(memo: magento_models.Creditmemo, order: magento_models.Order | None) -> refunds_domain.CreditMemo:
    """Top-level memo rows only (a configurable's child carries no price), amounts both ways."""
    children = {i.item_id for i in (order.items if order else []) if i.parent_item_id is not None}
    items = []
    for row in memo.items:
        if row.order_item_id in children:
            continue
        qty = int(round(float(row.qty or 0)))
        row_total = _num(row, "row_total")
        incl = _num(row, "row_total_incl_tax") or (row_total + _num(row, "tax_amount"))
        items.append(refunds_domain.MemoItem(sku=row.sku or "", qty=qty, row_total=row_total, row_total_incl_tax=incl,
                                    discount=abs(_num(row, "discount_amount"))))
    shipping = _num(memo, "shipping_amount")
    shipping_incl = _num(memo, "shipping_incl_tax") or (shipping + _num(memo, "shipping_tax_amount"))
    comment = " ".join(c.comment or "" for c in memo.comments)
    currency = getattr(memo, "order_currency_code", None) or (order.order_currency_code if order else "") or ""
    return refunds_domain.CreditMemo(
        creditmemo_id=memo.entity_id, increment_id=memo.increment_id or str(memo.entity_id), currency=currency,
        items=tuple(items), shipping=shipping, shipping_incl_tax=shipping_incl,
        adjustment_positive=_dec(memo.adjustment_positive), adjustment_negative=_dec(memo.adjustment_negative),
        comment=comment,
    )


def _taxes(taxes: Sequence[mirakl_models.TaxAmount]) -> tuple[refunds_domain.LineTax, ...]:
    return tuple(refunds_domain.LineTax(t.code, _dec(t.amount), None if t.rate is None else _dec(t.rate), t.tax_calculation_rule)
                 for t in taxes)


def market_order_from(order: mirakl_models.Order, default_mode: str, links: dict[str, str] | None = None) -> refunds_domain.MarketOrder:
    """The marketplace order for the pure refunds_domain. ``links`` (offer SKU -> Adobe Commerce SKU, the
    person-confirmed SKU links) lets a memo row match a line whose offer SKU differs."""
    links = links or {}
    lines = []
    for line in order.order_lines:
        lines.append(refunds_domain.MarketLine(
            line_id=line.order_line_id, sku=line.offer_sku, quantity=line.quantity, price=_dec(line.price),
            shipping_price=_dec(line.shipping_price), state=line.order_line_state, product_sku=links.get(line.offer_sku),
            refunds=tuple(refunds_domain.LineRefund(r.id, _dec(r.amount), _dec(r.shipping_amount), r.quantity or 0,
                                           r.refund_state or r.state or "", r.reason_code, r.created_date)
                          for r in line.refunds),
            cancelations=tuple(refunds_domain.LineCancelation(_dec(c.amount), _dec(c.shipping_amount), c.quantity or 0)
                               for c in line.cancelations),
            taxes=_taxes(line.taxes), shipping_taxes=_taxes(line.shipping_taxes), can_refund=line.can_refund,
        ))
    mode = refunds_domain.TaxMode(order.order_tax_mode or default_mode)
    return refunds_domain.MarketOrder(order.order_id, order.order_state, order.currency_iso_code, mode, tuple(lines),
                                      can_cancel=order.can_cancel)


def _read_order(runtime: Runtime, order_id: str) -> mirakl_models.Order | None:
    try:
        return runtime.mirakl.get_order(order_id)
    except NotFound:
        return None



def _stored_order(runtime: Runtime, order_id: str) -> mirakl_models.Order | None:
    """The OR11 payload the orders flow stored from the order feed's last read of the order (the
    feed hands it every version it reads before it writes the mirror); None when the orders flow
    does not hold it or it no longer reads as an order. No OR11 call."""
    with runtime.refunds_store.unit_of_work() as repo:
        raw = repo.orders.marketplace_payload(order_id, connection=runtime.settings.order_connection)
    if raw is None:
        return None
    try:
        return mirakl_models.Order.model_validate(raw)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return None
