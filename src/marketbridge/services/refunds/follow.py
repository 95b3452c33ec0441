"""Step 4 of the refunds flow: follow the marketplace.

:func:`follow` re-reads marketplace orders (those with refunds not yet ``REFUNDED``, then those
updated since the cursor ``mirakl.refunds.updated``): our refunds are followed to ``REFUNDED``;
refunds we did not send (operator refunds, cancellations after debit) are recorded with
``origin='marketplace'`` / ``'cancelation'`` and shown to finance, who may mirror them in Adobe
Commerce (:mod:`marketbridge.services.refunds.mirror`).

The orders come from ``runtime.refund_orders`` (:class:`~marketbridge.ports.refunds.FollowedOrders`,
:mod:`.orders`): OR11, or with ``order_feed_enabled`` the order feed's mirror, where "updated since"
is when the mirror's row changed (our clock) and the cursor moves to the moment the pass began.
Either way they arrive as the feed's ``MirrorOrder``; :func:`observe_orders` still takes OR11's
``Order`` model (it converts) and :func:`observe` the mirror's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.services.order_feed.wire import mirror_of
from marketbridge.services.refunds.conversions import _parse_time
from marketbridge.services.refunds.orders import Or11Orders
from marketbridge.services.refunds.recording import _object_id
from marketbridge.services.refunds.results import FollowCounts
from marketbridge.services.refunds.states import (
    CURSOR_MARKETPLACE_REFUNDS,
    PLANNED,
    REFUNDED,
    SENDING,
    SENT,
)

if TYPE_CHECKING:
    from marketbridge.adapters.mirakl import models as mirakl_models
    from marketbridge.domain.order_feed import MirrorLine, MirrorOrder
    from marketbridge.ports import FollowedOrders, RefundsRepository
    from marketbridge.runtime import Runtime


def _money_line(amount: Decimal, shipping: Decimal, currency: str) -> str:
    text = refunds_domain.fmt_money(amount, currency or "GBP")
    if shipping:
        text += f" and {refunds_domain.fmt_money(shipping, currency or 'GBP')} delivery"
    return text


def observe_orders(runtime: Runtime, orders: Iterable[mirakl_models.Order]) -> FollowCounts:
    """Update our ledger from marketplace orders as OR11 gave them (see :func:`observe`)."""
    window = runtime.settings.order_acceptance_window_seconds
    return observe(runtime, [mirror_of(order, window) for order in orders])


def observe(runtime: Runtime, orders: Iterable[MirrorOrder]) -> FollowCounts:
    """Update our ledger from marketplace orders: follow states, record foreign refunds."""
    counts = {"updated": 0, "foreign": 0, "completed": 0}
    alert_after = dt.timedelta(hours=runtime.settings.refund_completion_alert_hours)
    with runtime.refunds_store.unit_of_work() as repo:
        for order in orders:
            if not order.fully_refunded and not any(line.refunds or line.cancelations for line in order.lines):
                continue  # nothing below could act on it: spare the memo look-up
            sending = repo.memo_on_order_in(order.order_id, (SENDING, PLANNED))
            for line in order.lines:
                for refund in line.refunds:
                    state = refund.state or "WAITING_REFUND"
                    row = repo.marketplace_refund(refund.id)
                    if row is not None:
                        if row.state != state:
                            row.state = state
                            counts["updated"] += 1
                        if row.marketplace_created_at is None:
                            row.marketplace_created_at = refund.created_at
                        continue
                    if sending:
                        continue  # could be ours after an ambiguous send: the send step decides
                    _record_foreign(repo, order, line, refund.id, refund.amount, refund.shipping_amount,
                                    refund.quantity or 0, refund.reason_code or "", state, refund.created_at,
                                    origin="marketplace")
                    counts["foreign"] += 1
                if order.customer_debited_at is not None:
                    for cancel in line.cancelations:
                        key = f"C{cancel.id}"
                        if repo.marketplace_refund(key) is not None:
                            continue
                        _record_foreign(repo, order, line, key, cancel.amount, cancel.shipping_amount,
                                        cancel.quantity or 0, cancel.reason_code or "", "REFUNDED", cancel.created_at,
                                        origin="cancelation")
                        counts["foreign"] += 1
            if order.fully_refunded:
                _mark_order_refunded(repo, runtime, order.order_id)
        # our memos whose refunds are all REFUNDED; alert on slow ones
        for memo_row in repo.memos_in((SENT,)):
            states = repo.refund_states(memo_row.refund_ids or ["-"])
            if states and all(s == "REFUNDED" for s in states):
                memo_row.status, memo_row.refunded_at = REFUNDED, utcnow()
                repo.issues.clear(refunds_domain.REFUND_NOT_COMPLETED, _object_id(memo_row))
                counts["completed"] += 1
            elif memo_row.sent_at and utcnow() - memo_row.sent_at > alert_after:
                repo.issues.record(IssueReport(
                    type=refunds_domain.REFUND_NOT_COMPLETED, object_id=_object_id(memo_row),
                    message=f"The refund for credit memo {memo_row.creditmemo_increment_id} (order {memo_row.order_id}) was sent to "
                    f"John Lewis on {memo_row.sent_at:%d %b %Y} and has still not been paid to the customer.",
                    context={"refund_ids": list(memo_row.refund_ids)},
                ))
    return FollowCounts(**counts)


def _mark_order_refunded(repo: RefundsRepository, runtime: Runtime, order_id: str) -> None:
    """Move our order record (orders flow) to ``refunded`` once the marketplace says the order is
    fully refunded; a transition the order state machine does not allow is skipped by it. An order
    the orders flow does not hold (imported before marketbridge, or by hand) is left alone."""
    repo.orders.mark_refunded(order_id, connection=runtime.settings.order_connection,
                              source="marketplace fully_refunded")


def _record_foreign(repo: RefundsRepository, order: MirrorOrder, line: MirrorLine, refund_id: str, amount: Decimal,
                    shipping: Decimal, quantity: int, reason: str, state: str, created: dt.datetime | None,
                    *, origin: str) -> None:
    repo.add_marketplace_refund(
        refund_id=refund_id, order_id=order.order_id, order_line_id=line.line_id, sku=line.offer_sku,
        origin=origin, amount=amount, shipping_amount=shipping, quantity=quantity, reason_code=reason,
        currency=order.currency, state=state, marketplace_created_at=created,
    )
    what = "cancelled" if origin == "cancelation" else "refunded"
    repo.issues.record(IssueReport(
        type=refunds_domain.MARKETPLACE_REFUND, object_id=f"refund:{refund_id}",
        message=f"John Lewis {what} {_money_line(amount, shipping, order.currency)} on line "
        f"{line.line_id} ({line.offer_sku}) of order {order.order_id}"
        + (f" (reason {reason})" if reason else "") + " without a credit memo from us.",
        context={"refund_id": refund_id, "order_id": order.order_id, "order_line_id": line.line_id},
    ))


def followed_orders(runtime: Runtime) -> FollowedOrders:
    """The source ``bootstrap`` wired (by ``order_feed_enabled``); OR11 in a runtime built by hand."""
    if runtime.refund_orders is not None:
        return runtime.refund_orders
    return Or11Orders(runtime.mirakl, runtime.settings.order_acceptance_window_seconds)


def follow(runtime: Runtime) -> FollowCounts:
    """One pass: re-read orders with refunds not yet REFUNDED, then orders updated since the cursor."""
    store = runtime.refunds_store
    source = followed_orders(runtime)
    with store.unit_of_work() as repo:
        pending = repo.order_ids_to_follow(SENT)
        cursor = repo.cursor(CURSOR_MARKETPLACE_REFUNDS)
        since = _parse_time(cursor) if cursor is not None else None
    totals = FollowCounts()

    def add(counts: FollowCounts, n: int) -> None:
        nonlocal totals
        totals += counts + FollowCounts(orders=n)

    for start in range(0, len(pending), 100):
        batch = source.by_ids(pending[start:start + 100])
        add(observe(runtime, batch), len(batch))
    started = utcnow()
    if since is None:
        since = started - dt.timedelta(hours=runtime.settings.refund_backfill_hours)
    overlap = dt.timedelta(seconds=runtime.settings.order_poll_overlap_seconds)
    updated, newest = source.updated_since(since - overlap, started)
    add(observe(runtime, updated), len(updated))
    with store.unit_of_work() as repo:
        value = (newest or since).astimezone(dt.UTC).isoformat()
        cursor = repo.cursor(CURSOR_MARKETPLACE_REFUNDS)
        if cursor is None or (newest is not None and (_parse_time(cursor) or newest) <= newest):
            repo.move_cursor(CURSOR_MARKETPLACE_REFUNDS, value)
    return totals
