"""An OR11 order (the client's ``Order`` model) as the feed's :class:`MirrorOrder`.

Only what the flows decide on is carried over (see ``domain.order_feed``): never the ``customer``
object, its addresses, nor ``customer_notification_email``. Amounts go through
``domain.money.to_money`` (OR11 sends JSON numbers, read as floats; ``str`` gives back the
decimal that was sent). A refund's or cancelation's quantity, reason code and creation date are
kept for the refunds flow (no personal data in them). The acceptance deadline is not in OR11: it is ``created_date`` plus
``order_acceptance_window_seconds``, as the orders flow computes it.
"""

from __future__ import annotations

import datetime as dt

from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.money import to_money
from marketbridge.domain.order_feed import (
    MirrorCancelation,
    MirrorLine,
    MirrorOrder,
    MirrorRefund,
    MirrorTracking,
)


def _line(line: mirakl_models.OrderLine) -> MirrorLine:
    return MirrorLine(
        line_id=line.order_line_id, offer_sku=line.offer_sku, quantity=line.quantity, state=line.order_line_state,
        price=to_money(line.price), shipping_price=to_money(line.shipping_price), can_refund=line.can_refund,
        refunds=tuple(MirrorRefund(id=r.id, amount=to_money(r.amount), shipping_amount=to_money(r.shipping_amount),
                                   state=r.status, quantity=r.quantity, reason_code=r.reason_code,
                                   created_at=_utc_or_none(r.created_date)) for r in line.refunds),
        cancelations=tuple(MirrorCancelation(id=c.id, amount=to_money(c.amount),
                                             shipping_amount=to_money(c.shipping_amount), quantity=c.quantity,
                                             reason_code=c.reason_code, created_at=_utc_or_none(c.created_date))
                           for c in line.cancelations),
    )


def _tracking(order: mirakl_models.Order) -> MirrorTracking | None:
    tracking = MirrorTracking(carrier_code=order.shipping_carrier_code, carrier_name=order.shipping_company,
                              number=order.shipping_tracking, url=order.shipping_tracking_url)
    return tracking if tracking.is_set or tracking.url else None


def _utc(moment: dt.datetime) -> dt.datetime:
    """Mirakl sends UTC with ``Z``; a date without a zone is taken as UTC too, so that it compares
    with what the mirror stored."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else _utc(moment)


def mirror_of(order: mirakl_models.Order, acceptance_window_seconds: float) -> MirrorOrder:
    created = _utc(order.created_date)
    return MirrorOrder(
        order_id=order.order_id, state=order.order_state, created_at=created,
        updated_at=_utc(order.last_updated_date), currency=order.currency_iso_code,
        lines=tuple(_line(line) for line in order.order_lines),
        shipping_total=to_money(order.shipping_price), total_price=to_money(order.total_price),
        acceptance_deadline=orders_domain.acceptance_deadline(created, acceptance_window_seconds),
        shipping_deadline=_utc_or_none(order.shipping_deadline),
        customer_debited_at=_utc_or_none(order.customer_debited_date),
        can_cancel=order.can_cancel, has_incident=order.has_incident, tracking=_tracking(order),
        fully_refunded=order.fully_refunded,
    )


__all__ = ["mirror_of"]
