"""Pull (OR11): read the marketplace's orders since the cursor and store each one.

The cursor (``stream_cursors``, ``orders:<connection>:OR11``) is the newest ``last_updated_date``
stored, never past an order that failed to be stored; each poll reads from it minus an overlap, so
overlapping polls return orders already stored ("duplicate"). The raw OR11 payload is kept (its
customer part until the personal-data purge), and the marketplace's own state moves our record
where it implies a transition (accepted or refused in the back office, paid, cancelled, shipped,
closed) without any remote call.

Idempotency: OR21 is sent only from state ``received``/``held``; a repeat after a crash fails with
an invalid-state error, upon which the order is re-read (OR11 ``order_ids``, :func:`store_order`)
and its new state stored.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
from marketbridge.adapters.errors import RateLimited
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.money import UNIT_PRICE_SCALE, quantize, to_money
from marketbridge.domain.orders import OrderState
from marketbridge.ports.orders import (
    OrderAlreadyRecorded,
    OrderChangedUnderUs,
    OrdersRepository,
    StorageBusy,
    StoredOrders,
)
from marketbridge.runtime import Runtime
from marketbridge.services.orders.record import S, _transition, log
from marketbridge.settings import Settings


def cursor_name(settings: Settings) -> str:
    return f"orders:{settings.order_connection}:OR11"


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_cursor(orders: OrdersRepository, settings: Settings) -> dt.datetime | None:
    return _parse_time(orders.cursor(cursor_name(settings)))


def write_cursor(orders: OrdersRepository, settings: Settings, moment: dt.datetime) -> None:
    current = orders.cursor(cursor_name(settings))
    if current is None or (_parse_time(current) or moment) <= moment:  # never backwards
        orders.move_cursor(cursor_name(settings), moment.astimezone(dt.UTC).isoformat())


@dataclass
class PullResult:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    cursor: str | None = None
    #: OR11 was not due: seconds until it is (our pace, e.g. External Partner's 15 minutes, or a
    #: Mirakl Retry-After beyond the client's wait). Nothing was read; the next run reads.
    not_due_seconds: float | None = None
    #: ``"OR11"``: this poll read the marketplace; ``"order feed"``: the order feed reads OR11 and
    #: hands its orders to :func:`store_read_orders`, so the poll reads nothing (issue 20)
    source: str = "OR11"
    #: records moved on to what their stored marketplace state implies (:func:`catch_up`)
    caught_up: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "stored": self.stored, "duplicates": self.duplicates,
                "failed": list(self.failed), "cursor": self.cursor, "not_due_seconds": self.not_due_seconds,
                "source": self.source, "caught_up": self.caught_up}


def _store_one(runtime: Runtime, raw: dict[str, Any]) -> str:
    """One order per short transaction. Retried when SQLite refuses a read-then-write transaction
    at once ("database is locked") or when a concurrent poll inserted the same new order first; if
    it still fails, the caller counts the order as failed (and holds its cursor before it)."""
    for attempt in range(3):
        try:
            with runtime.orders_store.unit_of_work() as orders:
                outcome = store_order(orders, runtime.settings, raw)
                if outcome == "new":  # an order that could not be read before is read now
                    orders.issues.clear(orders_domain.ORDER_UNREADABLE, str(raw["order_id"]))
                return outcome
        except (OrderAlreadyRecorded, OrderChangedUnderUs):
            if attempt == 2:  # a concurrent poll or decision changed the same order: read it again
                raise
        except StorageBusy as error:
            if not error.locked or attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def store_read_orders(runtime: Runtime, raws: list[Any]) -> StoredOrders:
    """Store every order of one OR11 page (raw payload first, see :func:`store_order`), each in its
    own transaction: one bad order never stops the others. Used by this module's own poll and, when
    the order feed is on, by the feed's read (``bus.StoreMarketplaceOrders``)."""
    outcome = StoredOrders()
    for raw in raws:
        if not isinstance(raw, dict):  # an OR11 entry that is not an order: nothing to store
            log.error("order.store_failed", order_id=None, error=f"OR11 entry is a {type(raw).__name__}")
            outcome.failed.append(f"<{type(raw).__name__}>")
            continue
        try:
            updated = _parse_time(raw.get("last_updated_date"))
        except (TypeError, ValueError, AttributeError):
            updated = None  # the order fails validation below and is counted as failed
        try:
            stored = _store_one(runtime, raw)
        except Exception as error:  # one bad order must not stop the others, nor move the cursor past it
            unreadable = isinstance(error, (ValidationError, TypeError, ValueError))
            # a validation error quotes the values it refused (an address, a name): log the fields only
            log.error("order.store_failed", order_id=raw.get("order_id"),
                      error=mirakl_models.unreadable_fields(error) if unreadable else str(error)[:300])
            outcome.failed.append(str(raw.get("order_id")))
            if unreadable:
                _report_unreadable(runtime, raw, error)
            if updated is not None:
                outcome.oldest_failed = updated if outcome.oldest_failed is None else min(outcome.oldest_failed,
                                                                                          updated)
            continue
        if stored == "duplicate":
            outcome.duplicates += 1
        elif stored == "new":
            outcome.new += 1
        else:
            outcome.updated += 1
        if updated is not None:
            outcome.newest_ok = updated if outcome.newest_ok is None else max(outcome.newest_ok, updated)
    return outcome


def _report_unreadable(runtime: Runtime, raw: dict[str, Any], error: Exception) -> None:
    """An order the marketplace sent and we cannot read: an exception for Ops (once per order; the
    detail names the fields, never their values, which may be personal data)."""
    order_id = str(raw.get("order_id") or "(no order id)")[:64]
    detail = mirakl_models.unreadable_fields(error)
    try:
        with runtime.orders_store.unit_of_work() as orders:
            orders.issues.record(IssueReport(
                orders_domain.ORDER_UNREADABLE, order_id,
                f"Marketplace order {order_id} could not be read, so it is not in Adobe Commerce yet.",
                detail=detail))
    except Exception as failure:  # noqa: BLE001 - the log line above already says it; the next read tries again
        log.warning("order.unreadable_not_recorded", order_id=order_id, error=str(failure)[:200])


def pull(runtime: Runtime, *, now: dt.datetime | None = None) -> PullResult:
    """Read OR11 since the cursor minus the overlap, store every order (raw payload first), and move
    the cursor to the newest update date stored, never past an order that failed to be stored.

    With the order feed on (``order_feed_enabled``), the feed's read stores the orders it reads
    (:func:`store_read_orders`) and this poll reads nothing: OR11 is read once per interval for
    every flow (issue 20)."""
    settings = runtime.settings
    if settings.order_feed_enabled:
        return PullResult(source="order feed", caught_up=catch_up(runtime))
    now = now or utcnow()
    with runtime.orders_store.unit_of_work() as orders:
        cursor = read_cursor(orders, settings)
    since = (cursor - dt.timedelta(seconds=settings.order_poll_overlap_seconds)) if cursor else (
        now - dt.timedelta(seconds=settings.order_initial_lookback_seconds))
    result = PullResult()
    newest_ok: dt.datetime | None = None
    oldest_failed: dt.datetime | None = None
    page: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal newest_ok, oldest_failed
        stored = store_read_orders(runtime, page)
        page.clear()
        result.stored += stored.changed
        result.duplicates += stored.duplicates
        result.failed.extend(stored.failed)
        if stored.newest_ok is not None:
            newest_ok = stored.newest_ok if newest_ok is None else max(newest_ok, stored.newest_ok)
        if stored.oldest_failed is not None:
            oldest_failed = stored.oldest_failed if oldest_failed is None else min(oldest_failed, stored.oldest_failed)

    params = {"start_update_date": since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")}
    try:
        for raw in runtime.mirakl.iter_offset("OR11", params, page_size=settings.order_poll_page_size):
            result.fetched += 1
            page.append(raw)
            if len(page) >= settings.order_poll_page_size:
                flush()
    except RateLimited as error:
        if result.fetched:  # part of a listing read: fail the run, the cursor stays where it was
            raise
        # OR11 is not due yet (the schedule runs more often than the pace allows): not an error,
        # the rest of the run (decisions, creations) goes on and the next run reads
        log.info("orders.poll_not_due", retry_after=error.retry_after)
        result.not_due_seconds = error.retry_after
    flush()
    target = newest_ok
    if oldest_failed is not None and (target is None or oldest_failed < target):
        target = oldest_failed
    with runtime.orders_store.unit_of_work() as orders:
        if target is not None:
            write_cursor(orders, settings, target)
        stored_cursor = read_cursor(orders, settings)
    result.cursor = stored_cursor.isoformat() if stored_cursor else None
    return result


#: How many records left behind one poll moves at most.
CATCH_UP_LIMIT = 500


def catch_up(runtime: Runtime) -> int:
    """Move records whose state is behind the marketplace state they store, each in its own
    transaction; returns how many moved.

    A decision and a feed read can change the same record at once: the loser's transaction is
    refused (``OrderChangedUnderUs``), and a record can be left with the new payload but the old
    state (the real-limit benchmark found one: ``accepted`` while Mirakl said SHIPPING, so never
    created). The poll's own OR11 read used to hand every order again and the duplicate caught the
    record up; the order feed hands an order only when its mirror lacks that version, so with the
    feed on, the poll does it here, from what is stored (no remote call)."""
    # on the two columns only: the poll runs every few seconds, and loading every open record
    # (its payload too) each time is work for nothing almost always
    with runtime.orders_store.unit_of_work() as orders:
        ids = [c.order_id for c in orders.workflow_candidates(
            runtime.settings.order_connection, orders_domain.behind_marketplace_pairs(), limit=CATCH_UP_LIMIT)]
    moved = 0
    for order_id in ids:
        try:
            with runtime.orders_store.unit_of_work() as orders:
                order = orders.order(order_id, runtime.settings.order_connection)
                before = order.state if order is not None else None
                if order is not None:  # the pair was read a moment ago: follow decides on the record now
                    _follow_safely(orders, order)
                changed = order is not None and order.state != before
        except (OrderChangedUnderUs, StorageBusy) as error:  # changed meanwhile: the next poll looks again
            log.info("order.catch_up_skipped", order_id=order_id, error=type(error).__name__)
            continue
        moved += changed
    if moved:
        log.info("orders.caught_up", orders=moved)
    return moved


def _address_of(raw: dict[str, Any]) -> dict[str, Any] | None:
    customer = raw.get("customer") or {}
    address = customer.get("shipping_address")
    return dict(address) if isinstance(address, dict) and address.get("street_1") else None


def _strip_personal(raw: dict[str, Any]) -> dict[str, Any]:
    """The OR11 payload without its customer: only the marketplace's customer id and locale stay
    (any other key the marketplace adds to ``customer``, an e-mail say, goes too, and so does the
    per-order relay address ``customer_notification_email``)."""
    clean = dict(raw)
    customer: dict[str, Any] = clean["customer"] if isinstance(clean.get("customer"), dict) else {}
    clean["customer"] = {"customer_id": customer.get("customer_id"), "locale": customer.get("locale"),
                         "firstname": None, "lastname": None, "civility": None,
                         "billing_address": None, "shipping_address": None}
    if "customer_notification_email" in clean:
        clean["customer_notification_email"] = None
    return clean


def store_order(orders: OrdersRepository, settings: Settings, raw: dict[str, Any]) -> str:
    """Upsert one OR11 order: ``"new"``, ``"updated"`` or ``"duplicate"`` (same or older update date,
    as overlapping polls return). Also applies what the marketplace's state implies for our record."""
    parsed = mirakl_models.Order.model_validate(raw)
    order = orders.order(parsed.order_id, settings.order_connection)
    outcome = "updated"
    if order is None:
        order = MarketplaceOrder(
            connection=settings.order_connection, order_id=parsed.order_id, state=S.RECEIVED.value,
            marketplace_created_at=parsed.created_date, marketplace_updated_at=parsed.last_updated_date,
            marketplace_state=parsed.order_state, currency=parsed.currency_iso_code, received_at=utcnow(),
            state_changed_at=utcnow(),
        )
        orders.add_order(order)
        orders.add_transition(order, from_state=None, to_state=S.RECEIVED.value, at=order.received_at,
                              actor="system", facts={"marketplace_state": parsed.order_state})
        outcome = "new"
    elif parsed.last_updated_date <= order.marketplace_updated_at and parsed.order_state == order.marketplace_state:
        before = order.state
        _follow_safely(orders, order)  # a record left behind by a concurrent change catches up
        return "duplicate" if order.state == before else "updated"
    order.commercial_id = parsed.commercial_id
    order.marketplace_state = parsed.order_state
    order.marketplace_updated_at = parsed.last_updated_date
    order.customer_debited_at = parsed.customer_debited_date
    order.currency = parsed.currency_iso_code
    order.subtotal = to_money(parsed.price)  # OR11's JSON numbers, as the exact decimals they were sent as
    order.shipping_price = to_money(parsed.shipping_price)
    order.total_price = to_money(parsed.total_price)
    order.acceptance_deadline = order.acceptance_deadline or orders_domain.acceptance_deadline(
        parsed.created_date, settings.order_acceptance_window_seconds)
    if order.personal_data_purged_at is None:
        order.raw = raw
        customer = parsed.customer
        name = " ".join(p for p in ((customer.firstname if customer else None), (customer.lastname if customer else None)) if p)
        order.customer_name = name or order.customer_name
        order.shipping_address = _address_of(raw) or order.shipping_address
    else:
        order.raw = _strip_personal(raw)
    existing = {line.order_line_id: line for line in order.lines}
    for position, line in enumerate(parsed.order_lines):
        row = existing.get(line.order_line_id)
        if row is None:
            row = OrderLine(order_line_id=line.order_line_id, position=position, offer_sku=line.offer_sku,
                            quantity=line.quantity, marketplace_state=line.order_line_state, reasons=[])
            order.lines.append(row)
        row.quantity = line.quantity
        price = to_money(line.price)
        unit = to_money(line.price_unit) if line.price_unit is not None else price / max(line.quantity, 1)
        row.unit_price = quantize(unit, UNIT_PRICE_SCALE)
        row.price = price
        row.shipping_price = to_money(line.shipping_price)
        row.marketplace_state = line.order_line_state
        marketplace_says = orders_domain.accepted_on_marketplace(line.order_line_state)
        if marketplace_says is not None and row.accepted is not marketplace_says:
            if row.accepted is not None:  # found by the full soak: a second decision after a kill
                log.warning("order.line_decision_overtaken", order_id=order.order_id, line=line.order_line_id,
                            ours=row.accepted, marketplace_state=line.order_line_state)
            row.accepted = marketplace_says
    orders.flush()
    _follow_safely(orders, order)
    return outcome


def _follow_safely(orders: OrdersRepository, order: MarketplaceOrder) -> None:
    try:
        _follow_marketplace(orders, order)
    except orders_domain.TransitionNotAllowed as error:  # our record is behind: keep the payload, never block the poll
        log.warning("order.unfollowed_state", order_id=order.order_id, marketplace_state=order.marketplace_state,
                    state=order.state, error=str(error))


def _follow_marketplace(orders: OrdersRepository, order: MarketplaceOrder) -> None:
    """Transitions the marketplace's own state implies (no remote call)."""
    mp, state = order.marketplace_state, OrderState(order.state)
    if state == S.HELD and mp in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"):
        # someone accepted it in the marketplace back office: follow, so that it is still created
        _transition(orders, order, S.ACCEPTED, actor="marketplace", note="accepted outside marketbridge")
        orders.issues.clear(orders_domain.ORDER_HELD, order.order_id)
        orders.issues.clear(orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id)
        state = S.ACCEPTED
    if mp == "REFUSED" and state in (S.RECEIVED, S.HELD):
        reason = order.raw.get("order_state_reason_code") or ""
        automatic = reason == "AUTO_REFUSED"
        text = ("refused automatically by the marketplace: the acceptance deadline passed" if automatic
                else "refused on the marketplace (outside marketbridge)")
        order.reason = text
        _transition(orders, order, S.REFUSED, actor="marketplace", reason=text, automatic=automatic)
        orders.issues.clear(orders_domain.ORDER_HELD, order.order_id)
        orders.issues.clear(orders_domain.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id)
        orders.issues.record(IssueReport(orders_domain.ORDER_REFUSED, order.order_id,
                                         f"Order {order.order_id} was {text}."))
    elif mp == "CANCELED" and state in orders_domain.PRE_CREATION_STATES:
        order.reason = "cancelled on the marketplace before it was created in Adobe Commerce"
        _transition(orders, order, S.CANCELLED, actor="marketplace", reason=order.reason)
        # nothing is left to do for what was blocking the creation (found by the full soak)
        for type_ in (orders_domain.ORDER_HELD, orders_domain.ORDER_ADDRESS_MISSING, orders_domain.ORDER_WAITING_FOR_STOCK,
                      orders_domain.ORDER_CREATION_FAILED, orders_domain.ORDER_CUSTOM_OPTION_MISSING):
            orders.issues.clear(type_, order.order_id)
    elif mp in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING") and state in (S.RECEIVED, S.ACCEPTED):
        _transition(orders, order, S.AWAITING_PAYMENT, actor="marketplace", marketplace_state=mp)
    elif mp in ("SHIPPED", "TO_COLLECT", "RECEIVED") and state == S.CREATED:
        _transition(orders, order, S.SHIPPED, actor="marketplace", marketplace_state=mp)
    elif mp == "CLOSED" and state in (S.SHIPPED, S.REFUNDED, S.REFUSED, S.CANCELLED, S.CREATED):
        _transition(orders, order, S.CLOSED, actor="marketplace")
    if order.state == S.AWAITING_PAYMENT.value and mp == "SHIPPING":
        if order.shipping_address is None and order.personal_data_purged_at is None:
            orders.issues.record(IssueReport(
                orders_domain.ORDER_ADDRESS_MISSING, order.order_id,
                f"Order {order.order_id} is paid but has no shipping address, so it cannot be created yet."))
        else:
            orders.issues.clear(orders_domain.ORDER_ADDRESS_MISSING, order.order_id)
