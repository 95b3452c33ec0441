"""Use cases of the orders flow: pull, accept by rule, create exactly once, cancel, housekeeping.

Every function takes the :class:`~marketbridge.runtime.Runtime` (settings, database, both
clients) and keeps database sessions short: remote calls happen outside a transaction, so a slow
API never holds a SQLite write lock.

**For other flows** (shipments, refunds): move our order record with::

    record_transition(session, order_id, OrderState.SHIPPED, actor="shipments", shipment_id=12)

It checks the state machine in :mod:`marketbridge.domain.orders`, writes a timestamped row in
``order_transitions`` with the keyword facts, is a no-op when the order is already in that state,
raises ``LookupError`` for an unknown order and ``TransitionNotAllowed`` for an illegal move.
:func:`get_order_record` returns the record (Magento entity id, increment id, lines).

Idempotency against the remote systems (every step may run twice after a crash):

* OR21 is sent only from state ``received``/``held``; a repeat after a crash fails with an
  invalid-state error, upon which the order is re-read (OR11 ``order_ids``) and its new state
  stored.
* Magento is searched for ``ext_order_id`` = the marketplace order id (and, to close the window
  between placing the cart and writing ``ext_order_id``, for the order's unique relay e-mail)
  before every creation; invoice and comment look at the order first.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import ExceptionRecord, StreamCursor
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine, OrderTransition
from marketbridge.adapters.errors import NotFound, Rejected, RemoteError
from marketbridge.adapters.magento import models as mm
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.adapters.mirakl import models as mk
from marketbridge.domain import orders as rules
from marketbridge.domain.exceptions import ExceptionReport
from marketbridge.domain.money import UNIT_PRICE_SCALE, quantize, to_money, to_money_or_none, wire_number
from marketbridge.domain.orders import OrderState, SkuMatch
from marketbridge.runtime import Runtime
from marketbridge.services import exceptions as exc
from marketbridge.services import personal_data
from marketbridge.settings import OrderCreationMode, Settings

log = structlog.get_logger(__name__)

S = OrderState
MARKER = "[marketbridge] Marketplace order"
CANCELLATION_NOTE = "cancelled on the marketplace"  # ends the comment of the memo a cancellation makes
_CANCELLATION_MEMO = re.compile(re.escape(MARKER) + r" \S+ " + re.escape(CANCELLATION_NOTE))


def is_cancellation_memo(comment: str) -> bool:
    """The credit memo marketbridge made to cancel an invoiced order (not a refund to send)."""
    return bool(_CANCELLATION_MEMO.search(comment or ""))


# =================================================================== record and transitions
def get_order_record(session: Session, order_id: str, connection: str | None = None) -> MarketplaceOrder | None:
    query = select(MarketplaceOrder).where(MarketplaceOrder.order_id == order_id)
    if connection is not None:
        query = query.where(MarketplaceOrder.connection == connection)
    return session.scalars(query.options(selectinload(MarketplaceOrder.lines)).limit(1)).first()


OFFER_CHANGING_STATES = frozenset(s.value for s in (S.ACCEPTED, S.HELD, S.AWAITING_PAYMENT, S.REFUSED, S.CANCELLED))


def _transition(session: Session, order: MarketplaceOrder, new_state: OrderState | str, *, actor: str = "system",
                **facts: Any) -> bool:
    if not rules.check_transition(order.state, new_state):
        return False
    now = utcnow()
    session.add(OrderTransition(order_pk=order.id, from_state=order.state, to_state=OrderState(new_state).value,
                                at=now, actor=actor, facts=_jsonable(facts)))
    order.state = OrderState(new_state).value
    order.state_changed_at = now
    log.info("order.transition", order_id=order.order_id, state=order.state, actor=actor)
    if order.state in OFFER_CHANGING_STATES:
        # The offer changed on Mirakl's side: a sale took units off it, a refusal or cancellation
        # put them back. Re-publish even when our value equals the one last sent (found by the
        # soak: a sale, then stock booked in, and the value equalled the one sent before the sale
        # while the offer showed one less, for good). Awaiting payment too: a poll may skip ACCEPTED.
        _republish_stock_of(session, order)
    elif order.state == OrderState.SHIPPED.value:
        # the stock flow stops holding back an order created without a reservation (``direct``)
        # once it is shipped: re-read its SKUs (not forced: unchanged values are not re-sent)
        from marketbridge.services import stock

        stock.hint(session, sorted({line.magento_sku for line in order.lines if line.magento_sku}),
                   stock=True, exact=True, reason="order shipped")
    return True


def _republish_stock_of(session: Session, order: MarketplaceOrder) -> None:
    """Mirakl takes the units of a sale off the offer and puts those of a refused or cancelled order
    (or line) back; publish the quantity Adobe Commerce says (less the units sold and not yet in
    Magento) again. Forced: the value is often the one last sent (the offer changed on Mirakl's
    side, not ours)."""
    from marketbridge.services import stock

    skus = {line.magento_sku or line.offer_sku.strip() for line in order.lines if line.offer_sku}
    if skus:
        stock.hint(session, sorted(skus), stock=True, exact=True, force=True, reason=f"order {order.state}"[:64])


def record_transition(session: Session, order_id: str, new_state: OrderState | str, *, actor: str = "system",
                      connection: str | None = None, **facts: Any) -> MarketplaceOrder:
    """Move an order to ``new_state`` (see the module docstring). Returns the record."""
    order = get_order_record(session, order_id, connection)
    if order is None:
        raise LookupError(f"no marketplace order {order_id}")
    _transition(session, order, new_state, actor=actor, **facts)
    return order


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# =================================================================== pull (OR11)
def cursor_name(settings: Settings) -> str:
    return f"orders:{settings.order_connection}:OR11"


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_cursor(session: Session, settings: Settings) -> dt.datetime | None:
    row = session.get(StreamCursor, cursor_name(settings))
    return _parse_time(row.value) if row else None


def write_cursor(session: Session, settings: Settings, moment: dt.datetime) -> None:
    row = session.get(StreamCursor, cursor_name(settings))
    value = moment.astimezone(dt.UTC).isoformat()
    if row is None:
        session.add(StreamCursor(name=cursor_name(settings), value=value))
    elif (_parse_time(row.value) or moment) <= moment:  # never backwards
        row.value = value


@dataclass
class PullResult:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "stored": self.stored, "duplicates": self.duplicates,
                "failed": list(self.failed), "cursor": self.cursor}


def pull(runtime: Runtime, *, now: dt.datetime | None = None) -> PullResult:
    """Read OR11 since the cursor minus the overlap, store every order (raw payload first), and move
    the cursor to the newest update date stored, never past an order that failed to be stored."""
    settings = runtime.settings
    now = now or utcnow()
    with runtime.db.session() as session:
        cursor = read_cursor(session, settings)
    since = (cursor - dt.timedelta(seconds=settings.order_poll_overlap_seconds)) if cursor else (
        now - dt.timedelta(seconds=settings.order_initial_lookback_seconds))
    result = PullResult()
    newest_ok: dt.datetime | None = None
    oldest_failed: dt.datetime | None = None
    page: list[dict[str, Any]] = []

    def store_one(raw: dict[str, Any]) -> str:
        """One order per short transaction. Retried when SQLite refuses a read-then-write
        transaction at once ("database is locked") or when a concurrent poll inserted the same new
        order first; if it still fails the order counts as failed (the cursor stays before it)."""
        for attempt in range(3):
            try:
                with runtime.db.session() as session:
                    return store_order(session, settings, raw)
            except (IntegrityError, StaleDataError):
                if attempt == 2:  # a concurrent poll or decision changed the same order: read it again
                    raise
            except OperationalError as error:
                if "locked" not in str(error) or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def flush() -> None:
        nonlocal newest_ok, oldest_failed
        for raw in page:
            if not isinstance(raw, dict):  # an OR11 entry that is not an order: nothing to store
                log.error("order.store_failed", order_id=None, error=f"OR11 entry is a {type(raw).__name__}")
                result.failed.append(f"<{type(raw).__name__}>")
                continue
            try:
                updated = _parse_time(raw.get("last_updated_date"))
            except (TypeError, ValueError, AttributeError):
                updated = None  # the order fails validation below and is counted as failed
            try:
                outcome = store_one(raw)
            except Exception as error:  # one bad order must not stop the others, nor move the cursor past it
                log.error("order.store_failed", order_id=raw.get("order_id"), error=str(error)[:300])
                result.failed.append(str(raw.get("order_id")))
                if updated is not None:
                    oldest_failed = updated if oldest_failed is None else min(oldest_failed, updated)
                continue
            if outcome == "duplicate":
                result.duplicates += 1
            else:
                result.stored += 1
            if updated is not None:
                newest_ok = updated if newest_ok is None else max(newest_ok, updated)
        page.clear()

    params = {"start_update_date": since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")}
    for raw in runtime.mirakl.iter_offset("OR11", params, page_size=settings.order_poll_page_size):
        result.fetched += 1
        page.append(raw)
        if len(page) >= settings.order_poll_page_size:
            flush()
    flush()
    target = newest_ok
    if oldest_failed is not None and (target is None or oldest_failed < target):
        target = oldest_failed
    with runtime.db.session() as session:
        if target is not None:
            write_cursor(session, settings, target)
        stored_cursor = read_cursor(session, settings)
    result.cursor = stored_cursor.isoformat() if stored_cursor else None
    return result


def _address_of(raw: dict[str, Any]) -> dict[str, Any] | None:
    customer = raw.get("customer") or {}
    address = customer.get("shipping_address")
    return dict(address) if isinstance(address, dict) and address.get("street_1") else None


def _strip_personal(raw: dict[str, Any]) -> dict[str, Any]:
    """The OR11 payload without its customer: only the marketplace's customer id and locale stay
    (any other key the marketplace adds to ``customer``, an e-mail say, goes too, and so does the
    per-order relay address ``customer_notification_email``)."""
    clean = dict(raw)
    customer = clean.get("customer") if isinstance(clean.get("customer"), dict) else {}
    clean["customer"] = {"customer_id": customer.get("customer_id"), "locale": customer.get("locale"),
                         "firstname": None, "lastname": None, "civility": None,
                         "billing_address": None, "shipping_address": None}
    if "customer_notification_email" in clean:
        clean["customer_notification_email"] = None
    return clean


def store_order(session: Session, settings: Settings, raw: dict[str, Any]) -> str:
    """Upsert one OR11 order: ``"new"``, ``"updated"`` or ``"duplicate"`` (same or older update date,
    as overlapping polls return). Also applies what the marketplace's state implies for our record."""
    parsed = mk.Order.model_validate(raw)
    order = session.scalars(select(MarketplaceOrder).where(
        MarketplaceOrder.connection == settings.order_connection,
        MarketplaceOrder.order_id == parsed.order_id)).first()
    outcome = "updated"
    if order is None:
        order = MarketplaceOrder(
            connection=settings.order_connection, order_id=parsed.order_id, state=S.RECEIVED.value,
            marketplace_created_at=parsed.created_date, marketplace_updated_at=parsed.last_updated_date,
            marketplace_state=parsed.order_state, currency=parsed.currency_iso_code, received_at=utcnow(),
            state_changed_at=utcnow(),
        )
        session.add(order)
        session.flush()
        session.add(OrderTransition(order_pk=order.id, from_state=None, to_state=S.RECEIVED.value,
                                    at=order.received_at, facts={"marketplace_state": parsed.order_state}))
        outcome = "new"
    elif parsed.last_updated_date <= order.marketplace_updated_at and parsed.order_state == order.marketplace_state:
        before = order.state
        _follow_safely(session, order)  # a record left behind by a concurrent change catches up
        return "duplicate" if order.state == before else "updated"
    order.commercial_id = parsed.commercial_id
    order.marketplace_state = parsed.order_state
    order.marketplace_updated_at = parsed.last_updated_date
    order.customer_debited_at = parsed.customer_debited_date
    order.currency = parsed.currency_iso_code
    order.subtotal = to_money(parsed.price)  # OR11's JSON numbers, as the exact decimals they were sent as
    order.shipping_price = to_money(parsed.shipping_price)
    order.total_price = to_money(parsed.total_price)
    order.acceptance_deadline = order.acceptance_deadline or rules.acceptance_deadline(
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
        marketplace_says = rules.accepted_on_marketplace(line.order_line_state)
        if marketplace_says is not None and row.accepted is not marketplace_says:
            if row.accepted is not None:  # found by the full soak: a second decision after a kill
                log.warning("order.line_decision_overtaken", order_id=order.order_id, line=line.order_line_id,
                            ours=row.accepted, marketplace_state=line.order_line_state)
            row.accepted = marketplace_says
    session.flush()
    _follow_safely(session, order)
    return outcome


def _follow_safely(session: Session, order: MarketplaceOrder) -> None:
    try:
        _follow_marketplace(session, order)
    except rules.TransitionNotAllowed as error:  # our record is behind: keep the payload, never block the poll
        log.warning("order.unfollowed_state", order_id=order.order_id, marketplace_state=order.marketplace_state,
                    state=order.state, error=str(error))


def _follow_marketplace(session: Session, order: MarketplaceOrder) -> None:
    """Transitions the marketplace's own state implies (no remote call)."""
    mp, state = order.marketplace_state, OrderState(order.state)
    if state == S.HELD and mp in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"):
        # someone accepted it in the marketplace back office: follow, so that it is still created
        _transition(session, order, S.ACCEPTED, actor="marketplace", note="accepted outside marketbridge")
        exc.clear(session, rules.ORDER_HELD, order.order_id)
        exc.clear(session, rules.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id)
        state = S.ACCEPTED
    if mp == "REFUSED" and state in (S.RECEIVED, S.HELD):
        reason = order.raw.get("order_state_reason_code") or ""
        automatic = reason == "AUTO_REFUSED"
        text = ("refused automatically by the marketplace: the acceptance deadline passed" if automatic
                else "refused on the marketplace (outside marketbridge)")
        order.reason = text
        _transition(session, order, S.REFUSED, actor="marketplace", reason=text, automatic=automatic)
        exc.clear(session, rules.ORDER_HELD, order.order_id)
        exc.clear(session, rules.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id)
        exc.record(session, ExceptionReport(rules.ORDER_REFUSED, order.order_id,
                                            f"Order {order.order_id} was {text}."))
    elif mp == "CANCELED" and state in rules.PRE_CREATION_STATES:
        order.reason = "cancelled on the marketplace before it was created in Adobe Commerce"
        _transition(session, order, S.CANCELLED, actor="marketplace", reason=order.reason)
        # nothing is left to do for what was blocking the creation (found by the full soak)
        for type_ in (rules.ORDER_HELD, rules.ORDER_ADDRESS_MISSING, rules.ORDER_WAITING_FOR_STOCK,
                      rules.ORDER_CREATION_FAILED, rules.ORDER_CUSTOM_OPTION_MISSING):
            exc.clear(session, type_, order.order_id)
    elif mp in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING") and state in (S.RECEIVED, S.ACCEPTED):
        _transition(session, order, S.AWAITING_PAYMENT, actor="marketplace", marketplace_state=mp)
    elif mp in ("SHIPPED", "TO_COLLECT", "RECEIVED") and state == S.CREATED:
        _transition(session, order, S.SHIPPED, actor="marketplace", marketplace_state=mp)
    elif mp == "CLOSED" and state in (S.SHIPPED, S.REFUNDED, S.REFUSED, S.CANCELLED, S.CREATED):
        _transition(session, order, S.CLOSED, actor="marketplace")
    if order.state == S.AWAITING_PAYMENT.value and mp == "SHIPPING":
        if order.shipping_address is None and order.personal_data_purged_at is None:
            exc.record(session, ExceptionReport(
                rules.ORDER_ADDRESS_MISSING, order.order_id,
                f"Order {order.order_id} is paid but has no shipping address, so it cannot be created yet."))
        else:
            exc.clear(session, rules.ORDER_ADDRESS_MISSING, order.order_id)


# =================================================================== what needs doing
def workflow_id(phase: str, order: MarketplaceOrder) -> str:
    base = f"order-{phase}:{order.order_id}"
    if phase == "create" and order.create_attempt:
        return f"{base}:retry-{order.create_attempt}"
    return base


def retry_stock_waits(session: Session, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Orders waiting for stock whose last attempt is ``order_stock_retry_seconds`` old get a new
    creation attempt (a new workflow id, as a person's retry would); the next
    :func:`pending_actions` starts it. Returns the order ids."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.order_stock_retry_seconds)
    retried: list[str] = []
    for record in session.scalars(select(ExceptionRecord).where(
            ExceptionRecord.type == rules.ORDER_WAITING_FOR_STOCK.code, ExceptionRecord.state.in_(exc.ACTIVE_STATES),
            ExceptionRecord.last_seen <= cutoff)).all():
        order = get_order_record(session, record.object_id, settings.order_connection)
        if order is None or order.state != S.AWAITING_PAYMENT.value or order.magento_entity_id is not None:
            continue
        if int((record.context or {}).get("attempt", 0)) < order.create_attempt:
            continue  # the attempt asked for last time has not answered yet (it may be retrying a fault)
        order.create_attempt += 1
        record.last_seen = now  # the attempt itself re-records it when the stock is still missing
        retried.append(order.order_id)
    return retried


def pending_actions(session: Session, settings: Settings, limit: int = 5000) -> list[dict[str, str]]:
    """Orders that need a per-order workflow now: ``[{"phase", "order_id", "workflow_id"}]``.

    Filtered in SQL (state and marketplace state), so the many created orders waiting for shipment
    cost nothing on each poll."""
    wanted = {
        (S.RECEIVED.value, "WAITING_ACCEPTANCE"): "accept",
        (S.AWAITING_PAYMENT.value, "SHIPPING"): "create",
        (S.CREATED.value, "CANCELED"): "cancel",
    }
    rows = session.execute(
        select(MarketplaceOrder.order_id, MarketplaceOrder.state, MarketplaceOrder.marketplace_state,
               MarketplaceOrder.create_attempt, MarketplaceOrder.shipping_address)
        .where(MarketplaceOrder.connection == settings.order_connection,
               or_(*[and_(MarketplaceOrder.state == state, MarketplaceOrder.marketplace_state == mp)
                     for state, mp in wanted]))
        .order_by(MarketplaceOrder.id).limit(limit)).all()
    out: list[dict[str, str]] = []
    for order_id, state, mp, attempt, address in rows:
        phase = wanted[(state, mp)]
        if phase == "create" and not address:
            continue  # order_address_missing is open; it is created when the address appears
        base = f"order-{phase}:{order_id}"
        workflow = f"{base}:retry-{attempt}" if phase == "create" and attempt else base
        out.append({"phase": phase, "order_id": order_id, "workflow_id": workflow})
    return out


# =================================================================== SKU resolution and facts
class Catalog:
    """Reads Adobe Commerce products for the SKU checks and the cart, through a small cache shared
    by the whole process (``ttl`` seconds; salable quantities are never cached)."""

    PRODUCT_TTL = 30.0
    PARENTS_TTL = 600.0

    def __init__(self, magento: Any, shared: dict[str, Any] | None = None) -> None:
        self.magento = magento
        shared = shared if shared is not None else {}
        self._products: dict[str, tuple[float, mm.Product | None]] = shared.setdefault("orders.products", {})
        self._parents: dict[str, Any] = shared.setdefault("orders.parents", {})

    @classmethod
    def of(cls, runtime: Runtime) -> Catalog:
        return cls(runtime.magento, runtime.extras)

    def product(self, sku: str) -> mm.Product | None:
        cached = self._products.get(sku)
        if cached is not None and time.monotonic() - cached[0] < self.PRODUCT_TTL:
            return cached[1]
        try:
            product: mm.Product | None = self.magento.get_product(sku)
        except NotFound:
            product = None
        self._products[sku] = (time.monotonic(), product)
        return product

    def _scan_parents(self) -> dict[int, str]:
        links: dict[int, str] = {}
        criteria = SearchCriteria().where("type_id", "configurable")
        for parent in self.magento.iterate_products(criteria=criteria):
            self._products[parent.sku] = (time.monotonic(), parent)
            for child_id in parent.extension_attributes.configurable_product_links:
                links[int(child_id)] = parent.sku
        self._parents.update({"at": time.monotonic(), "links": links})
        return links

    def parent_of(self, product: mm.Product) -> mm.Product | None:
        """The configurable parent of a child product. Only products not visible on their own
        (visibility 1, as Magento creates configurable children) are looked up; the child → parent
        map comes from one paged scan of configurable products, cached and rescanned on a miss."""
        if product.id is None or product.visibility not in (None, 1):
            return None
        links = self._parents.get("links")
        age = time.monotonic() - self._parents.get("at", 0.0)
        if links is None or age > self.PARENTS_TTL or (product.id not in links and age > 60):
            links = self._scan_parents()
        sku = links.get(product.id)
        return self.product(sku) if sku else None


def resolve_sku(catalog: Catalog, offer_sku: str, linked: str | None = None) -> tuple[str | None, SkuMatch]:
    """Map a marketplace offer SKU to a Magento SKU: a person-confirmed link (``linked``, from the
    catalogue's SKU link table), else exact, else normalised (stray whitespace or letter case,
    accepted with a warning exception), else none. The one place SKU resolution lives."""
    if linked:
        product = catalog.product(linked)
        if product is not None:
            return product.sku, SkuMatch.LINKED
    product = catalog.product(offer_sku) if offer_sku and offer_sku == offer_sku.strip() else None
    if product is not None and product.sku == offer_sku:
        return product.sku, SkuMatch.EXACT
    candidate = offer_sku.strip()
    if candidate:
        product = catalog.product(candidate)
        if product is None and candidate.upper() != candidate:
            product = catalog.product(candidate.upper())
        if product is not None and rules.normalise_sku(product.sku) == rules.normalise_sku(offer_sku):
            return product.sku, SkuMatch.NORMALISED
    return None, SkuMatch.NONE


def confirmed_links(session: Session, offer_skus: Iterable[str]) -> dict[str, str]:
    """Person-confirmed offer SKU → Magento SKU links (catalogue flow)."""
    from marketbridge.services import skus as sku_links

    out = {}
    for sku in set(offer_skus):
        target = sku_links.resolve(session, sku)
        if target:
            out[sku] = target
    return out


def price_rules(session: Session) -> list[Any]:
    """The stock flow's price rules (one definition of the channel price everywhere). No fallback:
    an import that fails must fail loudly, never price an order without its rules."""
    from marketbridge.services.stock.rules import load_rules

    return list(load_rules(session))


def _salable(runtime: Runtime, catalog: Catalog, product: mm.Product) -> float:
    stock_id = runtime.settings.magento_stock_id
    if product.type_id == "bundle":
        parts = [(link.sku, link.qty or 1.0) for option in runtime.magento.bundle_options(product.sku)
                 for link in option.product_links if link.is_default]
        if not parts:
            return 0.0
        return min(runtime.magento.salable_quantity(sku, stock_id) / qty for sku, qty in parts)
    try:
        return runtime.magento.salable_quantity(product.sku, stock_id)
    except (NotFound, Rejected):
        return 0.0


def _channel_price(product: mm.Product, price_rule_rows: Sequence[Any]) -> tuple[Decimal | None, str]:
    """The stock flow's channel price for the product (price rules applied), else Magento's own final
    price (the special price when lower) if the product's data does not fit that rule."""
    from marketbridge.domain import stock as stock_rules

    try:
        facts = stock_rules.PriceFacts(price=to_money_or_none(product.price),
                                       special_price=to_money_or_none(product.special_price) if product.special_price else None)
        attributes = {a.attribute_code: str(a.value) for a in product.custom_attributes if not isinstance(a.value, list)}
        categories = next((a.value for a in product.custom_attributes if a.attribute_code == "category_ids"), []) or []
        pf = stock_rules.ProductFacts(sku=product.sku, enabled=product.enabled, type_id=product.type_id,
                                      attributes=attributes, category_ids=[str(c) for c in categories])
        value, how = stock_rules.channel_price(facts, pf, price_rule_rows, dt.date.today())
        return value, f"channel_price:{how}"
    except (AttributeError, TypeError):
        prices = [to_money(p) for p in (product.price, product.special_price) if p]
        return (min(prices) if prices else None), "magento_price"


def _open_reservations(session: Session, settings: Settings, order_id: str) -> dict[str, float]:
    rows = session.execute(
        select(MarketplaceOrder.order_id, OrderLine.magento_sku, OrderLine.quantity, OrderLine.accepted)
        .join(OrderLine, OrderLine.order_pk == MarketplaceOrder.id)
        .where(MarketplaceOrder.connection == settings.order_connection,
               MarketplaceOrder.state.in_([s.value for s in rules.PRE_CREATION_STATES]),
               OrderLine.magento_sku.is_not(None))
    ).all()
    return rules.reserved_by_other_orders(
        ((oid, sku, float(qty)) for oid, sku, qty, accepted in rows if accepted is not False), order_id)


# =================================================================== accept / refuse / hold
def acceptance_rules(settings: Settings) -> rules.AcceptanceRules:
    return rules.AcceptanceRules(currency=settings.currency, price_tolerance_percent=settings.price_tolerance_percent,
                                 partial_acceptance=settings.partial_acceptance,
                                 hold_on_failure=settings.acceptance_policy.value == "hold")


def decide(runtime: Runtime, order_id: str) -> dict[str, Any]:
    """Apply the acceptance rules to a received order and send OR21 (or hold it for a person)."""
    settings = runtime.settings
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.RECEIVED.value or order.marketplace_state != "WAITING_ACCEPTANCE":
            return {"order_id": order_id, "state": order.state, "skipped": True}
        lines = [(line.order_line_id, line.offer_sku, line.quantity, line.unit_price) for line in order.lines
                 if line.marketplace_state == "WAITING_ACCEPTANCE"]
        currency = order.currency
        links = confirmed_links(session, [offer_sku for _, offer_sku, _, _ in lines])
        rule_rows = price_rules(session)
    catalog = Catalog.of(runtime)
    resolved = {}
    for line_id, offer_sku, _qty, _unit in lines:
        resolved[line_id] = resolve_sku(catalog, offer_sku, links.get(offer_sku))
    with runtime.db.session() as session:  # other open orders' quantities, counted once per decision
        for line in get_order_record(session, order_id, settings.order_connection).lines:  # type: ignore[union-attr]
            if line.order_line_id in resolved:
                line.magento_sku, line.sku_match = resolved[line.order_line_id][0], resolved[line.order_line_id][1].value
        session.flush()
        reserved = _open_reservations(session, settings, order_id)
    facts = []
    for line_id, offer_sku, qty, unit in lines:
        sku, how = resolved[line_id]
        product = catalog.product(sku) if sku else None
        channel = _channel_price(product, rule_rows)[0] if product else None
        facts.append(rules.LineFacts(
            order_line_id=line_id, offer_sku=offer_sku, quantity=qty, unit_price=unit, match=how, magento_sku=sku,
            enabled=product.enabled if product else False,
            salable_qty=_salable(runtime, catalog, product) if product else None,
            reserved_elsewhere=reserved.get(sku or "", 0.0), channel_price=channel))
    decision = rules.decide_acceptance(facts, acceptance_rules(settings), currency)
    return _apply_decision(runtime, order_id, decision, facts, actor="rules")


def _apply_decision(runtime: Runtime, order_id: str, decision: rules.AcceptanceDecision,
                    facts: Sequence[rules.LineFacts], *, actor: str) -> dict[str, Any]:
    settings = runtime.settings
    by_line = {d.order_line_id: d for d in decision.lines}
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        assert order is not None
        for line in order.lines:
            d = by_line.get(line.order_line_id)
            if d is not None:
                line.accepted = d.accepted if decision.outcome is not rules.Outcome.HOLD else None
                line.reasons = [r.value for r in d.reasons]
        order.decision = {"outcome": decision.outcome.value, "actor": actor,
                          "lines": [d.as_dict() for d in decision.lines]}
        order.reason = decision.reasons_text()
        for f in facts:
            if f.match is SkuMatch.NORMALISED and f.magento_sku:
                exc.record(session, ExceptionReport(
                    rules.ORDER_SKU_NORMALISED, f.offer_sku,
                    f"Marketplace offer SKU {f.offer_sku!r} matched Adobe Commerce SKU {f.magento_sku!r} only after "
                    f"removing spaces or changing case (order {order_id}).", context={"order_id": order_id}))
        if decision.outcome is rules.Outcome.HOLD:
            _transition(session, order, S.HELD, actor=actor, reasons=order.reason)
            deadline = order.acceptance_deadline
            when = deadline.strftime("%Y-%m-%d %H:%M UTC") if deadline else "unknown"
            exc.record(session, ExceptionReport(
                rules.ORDER_HELD, order_id,
                f"Order {order_id} is held for a decision: {order.reason}. The marketplace refuses it automatically "
                f"at {when}.", context={"acceptance_deadline": deadline.isoformat() if deadline else None}))
            return {"order_id": order_id, "state": order.state, "outcome": decision.outcome.value}
    return send_decision(runtime, order_id, decision.or21, actor=actor, outcome=decision.outcome.value,
                         reason=decision.reasons_text())


def send_decision(runtime: Runtime, order_id: str, or21: dict[str, bool], *, actor: str, outcome: str,
                  reason: str) -> dict[str, Any]:
    """OR21 with a decision for every line, then the transition. On rejection the order is re-read."""
    settings = runtime.settings
    try:
        runtime.mirakl.accept_order(order_id, or21)
    except Rejected as error:
        fresh = None
        try:
            fresh = next(iter(runtime.mirakl.iter_offset("OR11", {"order_ids": order_id})), None)
        except RemoteError:
            pass
        with runtime.db.session() as session:
            if fresh is not None:
                store_order(session, settings, fresh)
            order = get_order_record(session, order_id, settings.order_connection)
            assert order is not None
            if order.marketplace_state == "WAITING_ACCEPTANCE":
                exc.record(session, ExceptionReport(
                    rules.ORDER_DECISION_FAILED, order_id,
                    f"The marketplace rejected the {outcome} decision for order {order_id}.", detail=str(error)))
            return {"order_id": order_id, "state": order.state, "outcome": outcome, "rejected": str(error)}
    accepted_any = any(or21.values())

    def record(session: Session) -> dict[str, Any]:
        order = get_order_record(session, order_id, settings.order_connection)
        assert order is not None
        for line in order.lines:
            if line.order_line_id in or21:
                line.accepted = or21[line.order_line_id]
        if order.state in (S.RECEIVED.value, S.HELD.value):  # a concurrent poll may have moved it on already
            if accepted_any:  # (lines refused with it are re-published by the transition, as every line)
                _transition(session, order, S.ACCEPTED, actor=actor, or21=or21, outcome=outcome)
            else:
                order.reason = reason
                _transition(session, order, S.REFUSED, actor=actor, or21=or21, reason=reason)
                exc.record(session, ExceptionReport(rules.ORDER_REFUSED, order_id,
                                                    f"Order {order_id} was refused: {reason}."))
        exc.clear(session, rules.ORDER_HELD, order_id)
        exc.clear(session, rules.ORDER_ACCEPTANCE_DEADLINE_NEAR, order_id)
        exc.clear(session, rules.ORDER_DECISION_FAILED, order_id)
        return {"order_id": order_id, "state": order.state, "outcome": outcome}

    return _write_with_retry(runtime, record)


def _write_with_retry(runtime: Runtime, fn: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` in a transaction; if a concurrent change to the same order wins (StaleDataError),
    run it again on a fresh read (``fn`` decides from the state it then finds)."""
    for attempt in range(3):
        try:
            with runtime.db.session() as session:
                return fn(session)
        except StaleDataError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class DecisionNotAllowed(Exception):
    pass


def decide_by_person(runtime: Runtime, order_id: str, accept: bool, *, actor: str) -> dict[str, Any]:
    """A person's decision on a held (or still undecided) order: every waiting line accepted or refused."""
    settings = runtime.settings
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state not in (S.HELD.value, S.RECEIVED.value) or order.marketplace_state != "WAITING_ACCEPTANCE":
            raise DecisionNotAllowed(
                f"order {order_id} is {order.state} (marketplace: {order.marketplace_state}); only held orders "
                "waiting for acceptance can be decided")
        or21 = {line.order_line_id: accept for line in order.lines if line.marketplace_state == "WAITING_ACCEPTANCE"}
        exc.audit(session, actor, "order.accept" if accept else "order.refuse", "order", order_id)
    reason = "accepted by a person" if accept else f"refused by {actor}"
    return send_decision(runtime, order_id, or21, actor=actor, outcome="accept" if accept else "refuse", reason=reason)


# =================================================================== create in Adobe Commerce
ISO3_TO_ISO2 = {
    "GBR": "GB", "IRL": "IE", "FRA": "FR", "DEU": "DE", "ESP": "ES", "ITA": "IT", "NLD": "NL", "BEL": "BE",
    "LUX": "LU", "PRT": "PT", "AUT": "AT", "CHE": "CH", "DNK": "DK", "SWE": "SE", "NOR": "NO", "FIN": "FI",
    "POL": "PL", "CZE": "CZ", "USA": "US", "CAN": "CA", "AUS": "AU", "NZL": "NZ", "JEY": "JE", "GGY": "GG",
    "IMN": "IM", "GIB": "GI",
}


class CreationBlocked(Exception):
    """The order cannot be created as it stands (missing custom option value, unknown SKU...)."""

    def __init__(self, type_: Any, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


def _magento_address(address: dict[str, Any], email: str) -> mm.Address:
    country = str(address.get("country_iso_code") or "").upper()
    country_id = ISO3_TO_ISO2.get(country, country if len(country) == 2 else "")
    if not country_id:
        raise CreationBlocked(rules.ORDER_ADDRESS_MISSING, f"the shipping country {country!r} is not known")
    street = [s for s in (address.get("street_1"), address.get("street_2")) if s]
    return mm.Address(
        firstname=address.get("firstname") or "-", lastname=address.get("lastname") or "-", street=street or ["-"],
        city=address.get("city") or "-", postcode=address.get("zip_code") or "-", country_id=country_id,
        telephone=address.get("phone") or "0000000000", email=email, company=address.get("company") or None,
        region=address.get("state") or None)


def order_email(order: MarketplaceOrder) -> str:
    """A per-order address (the marketplace's relay address when given): unique, so that an order
    placed but not yet tagged with ``ext_order_id`` can still be found."""
    relay = (order.raw or {}).get("customer_notification_email")
    return str(relay) if relay else f"marketplace+{order.order_id.lower()}@marketplace.invalid"


def cart_lines(runtime: Runtime, catalog: Catalog, lines: Iterable[tuple[str, float]]) -> list[mm.CartLine]:
    """Cart lines for ``(magento_sku, qty)``: simple as is, configurable child via its parent and
    options, bundle with its default selections, required custom options from settings."""
    out: list[mm.CartLine] = []
    configured = runtime.settings.order_custom_option_values
    for sku, qty in lines:
        product = catalog.product(sku)
        if product is None:
            raise CreationBlocked(rules.ORDER_CREATION_FAILED, f"SKU {sku} does not exist in Adobe Commerce")
        custom: dict[str, str] | None = None
        required = [o for o in (product.options or runtime.magento.custom_options(sku)) if o.is_require] \
            if product.has_required_options or product.options else []
        if required:
            values = configured.get(sku, {})
            custom = {}
            for option in required:
                value = values.get(option.title) or values.get(str(option.option_id))
                if not value:
                    raise CreationBlocked(rules.ORDER_CUSTOM_OPTION_MISSING,
                                          f"SKU {sku} needs a value for its required option {option.title!r}")
                custom[str(option.option_id)] = value
        if product.type_id == "bundle":
            selections = []
            for option in runtime.magento.bundle_options(sku):
                defaults = [link for link in option.product_links if link.is_default] or option.product_links[:1]
                if not defaults:
                    continue
                selections.append(mm.BundleSelection(option_id=option.option_id, option_qty=defaults[0].qty or 1,
                                                     option_selections=[int(link.id) for link in defaults if link.id]))
            out.append(mm.CartLine(sku=sku, qty=qty, bundle_selections=selections, custom_options=custom))
            continue
        parent = catalog.parent_of(product) if product.type_id in ("simple", "virtual") else None
        if parent is not None:
            options: dict[str, int] = {}
            values = {a.attribute_code: a.value for a in product.custom_attributes}
            for option in parent.extension_attributes.configurable_product_options:
                code = (option.label or "").strip().lower()
                value = values.get(code) or values.get(code.replace("colour", "color"))
                if value is None:
                    raise CreationBlocked(rules.ORDER_CREATION_FAILED,
                                          f"child {sku} has no value for {parent.sku}'s option {option.label!r}")
                options[str(option.attribute_id)] = int(str(value))
            out.append(mm.CartLine(sku=parent.sku, qty=qty, configurable_options=options, custom_options=custom))
            continue
        out.append(mm.CartLine(sku=sku, qty=qty, custom_options=custom))
    return out


def _find_existing(runtime: Runtime, order: MarketplaceOrder) -> mm.Order | None:
    """The Magento order for this marketplace order, if one exists: ``ext_order_id`` = our id, or
    (placed but not yet tagged) the order's unique e-mail without an ``ext_order_id``, which is then
    tagged. One search: the two filters are OR-ed in one filter group."""
    email = order_email(order)
    criteria = SearchCriteria().any_of(("ext_order_id", order.order_id), ("customer_email", email)).page(10)
    candidates = runtime.magento.search_orders(criteria).items
    for candidate in candidates:
        if candidate.ext_order_id == order.order_id:
            return candidate
    for candidate in candidates:
        if candidate.customer_email == email and not candidate.ext_order_id:
            runtime.magento.set_ext_order_id(candidate.entity_id, order.order_id)
            return candidate
    return None


def create_in_magento(runtime: Runtime, order_id: str) -> dict[str, Any]:
    """Create the Adobe Commerce order for a paid marketplace order, exactly once."""
    settings = runtime.settings
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.magento_entity_id is not None:
            return {"order_id": order_id, "magento_entity_id": order.magento_entity_id, "already": True}
        if order.state != S.AWAITING_PAYMENT.value or order.marketplace_state != "SHIPPING":
            return {"order_id": order_id, "state": order.state, "skipped": True}
        session.expunge(order)
    existing = _find_existing(runtime, order)
    if existing is not None:
        return _record_created(runtime, order_id, existing.entity_id, existing.increment_id, found=True)
    try:
        entity_id = _place(runtime, order)
    except CreationBlocked as blocked:
        with runtime.db.session() as session:
            exc.record(session, ExceptionReport(blocked.type, order_id,
                                                f"Order {order_id} was not created in Adobe Commerce: {blocked.message}."))
        return {"order_id": order_id, "blocked": blocked.message}
    except Rejected as error:
        if rules.is_stock_shortage(error.message):
            skus = sorted({line.magento_sku or line.offer_sku for line in order.lines if line.accepted is not False})
            with runtime.db.session() as session:
                exc.record(session, ExceptionReport(
                    rules.ORDER_WAITING_FOR_STOCK, order_id,
                    f"Order {order_id} is paid but Adobe Commerce has no stock left for it ({', '.join(skus)}); "
                    "marketbridge creates it as soon as the stock is back.",
                    detail=str(error), context={"skus": skus, "attempt": order.create_attempt}))
            return {"order_id": order_id, "waiting_for_stock": skus}
        with runtime.db.session() as session:
            exc.record(session, ExceptionReport(rules.ORDER_CREATION_FAILED, order_id,
                                                f"Adobe Commerce rejected order {order_id}: {error.message}",
                                                detail=str(error)))
        return {"order_id": order_id, "rejected": str(error)}
    placed = runtime.magento.get_order(entity_id)
    return _record_created(runtime, order_id, placed.entity_id, placed.increment_id, found=False)


def _place(runtime: Runtime, order: MarketplaceOrder) -> int:
    settings = runtime.settings
    email = order_email(order)
    if not order.shipping_address:
        raise CreationBlocked(rules.ORDER_ADDRESS_MISSING, "the order has no shipping address")
    address = _magento_address(order.shipping_address, email)
    billing_raw = ((order.raw or {}).get("customer") or {}).get("billing_address")
    billing = _magento_address(billing_raw, email) if isinstance(billing_raw, dict) and billing_raw.get("street_1") else address
    catalog = Catalog.of(runtime)
    with runtime.db.session() as session:
        links = confirmed_links(session, [line.offer_sku for line in order.lines if not line.magento_sku])
    wanted = []
    for line in order.lines:
        if line.accepted is False or line.marketplace_state in ("REFUSED", "CANCELED"):
            continue
        sku = line.magento_sku or resolve_sku(catalog, line.offer_sku, links.get(line.offer_sku))[0]
        if sku is None:
            raise CreationBlocked(rules.ORDER_CREATION_FAILED, f"offer SKU {line.offer_sku!r} matches no product")
        wanted.append((sku, float(line.quantity), line))
    if not wanted:
        raise CreationBlocked(rules.ORDER_CREATION_FAILED, "no accepted line to create")
    if settings.order_creation_mode is OrderCreationMode.DIRECT:
        return _place_direct(runtime, order, catalog, wanted, address, billing, email)
    lines = cart_lines(runtime, catalog, [(sku, qty) for sku, qty, _ in wanted])
    carrier, _, method = shipping_method_for(settings, order.shipping_price).partition("_")
    return runtime.magento.create_order_via_cart(
        lines, shipping_address=address, billing_address=billing, email=email,
        carrier_code=settings.order_shipping_carrier_code or carrier, method_code=method or carrier,
        payment_method=settings.magento_payment_method, ext_order_id=order.order_id)


def shipping_method_for(settings: Settings, marketplace_shipping: Decimal) -> str:
    """The Magento shipping method for an order: the free one when John Lewis charged no delivery.

    The cart flow cannot set a shipping price, so Magento charges what its method charges; an
    order on which the marketplace charged nothing must not be charged Magento's flat rate, or
    every free-delivery order would differ from the marketplace's totals.
    """
    if marketplace_shipping <= 0 and settings.magento_free_shipping_method:
        return settings.magento_free_shipping_method
    return settings.magento_shipping_method


def _place_direct(runtime: Runtime, order: MarketplaceOrder, catalog: Catalog, wanted: list[tuple[str, float, OrderLine]],
                  address: mm.Address, billing: mm.Address, email: str) -> int:
    """``POST /V1/orders`` with the marketplace's prices. No MSI reservation (see README)."""
    items = []
    for sku, qty, line in wanted:
        product = catalog.product(sku)
        if product is None:
            raise CreationBlocked(rules.ORDER_CREATION_FAILED, f"SKU {sku} does not exist in Adobe Commerce")
        items.append(mm.OrderItemInput(sku=sku, name=product.name or sku, qty_ordered=qty,
                                       price=wire_number(line.unit_price), base_price=wire_number(line.unit_price),
                                       row_total=wire_number(line.price), base_row_total=wire_number(line.price),
                                       product_id=product.id, product_type=product.type_id,
                                       ext_order_item_id=line.order_line_id))

    def addr(kind: str, a: mm.Address) -> mm.OrderAddressInput:
        return mm.OrderAddressInput(address_type=kind, firstname=a.firstname, lastname=a.lastname, street=a.street,
                                    city=a.city, postcode=a.postcode, country_id=a.country_id, telephone=a.telephone,
                                    email=email, company=a.company, region=a.region)

    total, subtotal, shipping = (wire_number(order.total_price), wire_number(order.subtotal),
                                 wire_number(order.shipping_price))  # Adobe Commerce reads JSON numbers
    entity = mm.OrderEntity(
        customer_email=email, base_currency_code=order.currency, order_currency_code=order.currency,
        global_currency_code=order.currency, store_currency_code=order.currency,
        base_grand_total=total, grand_total=total, subtotal=subtotal,
        base_subtotal=subtotal, shipping_amount=shipping, base_shipping_amount=shipping,
        total_due=total, base_total_due=total, ext_order_id=order.order_id,
        billing_address=addr("billing", billing), items=items,
        payment=mm.OrderPaymentInput(method=runtime.settings.magento_payment_method, amount_ordered=total),
        shipping_description="Marketplace shipping",
        extension_attributes=mm.OrderExtensionInput(shipping_assignments=[mm.OrderShippingAssignmentInput(
            shipping=mm.OrderShippingInput(address=addr("shipping", address),
                                           method=runtime.settings.magento_shipping_method))]),
    )
    return runtime.magento.create_order_direct(entity).entity_id


def _record_created(runtime: Runtime, order_id: str, entity_id: int, increment_id: str, *, found: bool) -> dict[str, Any]:
    def record(session: Session) -> dict[str, Any]:
        order = get_order_record(session, order_id, runtime.settings.order_connection)
        assert order is not None
        order.magento_entity_id = entity_id
        order.magento_increment_id = increment_id
        if order.state == S.AWAITING_PAYMENT.value:
            _transition(session, order, S.CREATED, magento_entity_id=entity_id, magento_increment_id=increment_id,
                        found_existing=found)
        for type_ in (rules.ORDER_CREATION_FAILED, rules.ORDER_CUSTOM_OPTION_MISSING, rules.ORDER_ADDRESS_MISSING,
                      rules.ORDER_WAITING_FOR_STOCK):
            exc.clear(session, type_, order_id)
        return {"cancelled_meanwhile": order.state == S.CANCELLED.value}

    outcome = _write_with_retry(runtime, record) or {}
    result = {"order_id": order_id, "magento_entity_id": entity_id, "magento_increment_id": increment_id,
              "found_existing": found}
    if outcome.get("cancelled_meanwhile"):
        result["cancelled_meanwhile"] = _cancel_created_after_cancellation(runtime, order_id, entity_id, increment_id)
    return result


def _cancel_created_after_cancellation(runtime: Runtime, order_id: str, entity_id: int, increment_id: str) -> str:
    """The marketplace cancelled the order while it was being created (another worker recorded the
    cancellation between our checks and Magento's answer): cancel the Magento order we just made,
    so the warehouse never ships it and its reservation is released."""
    try:
        how = "cancelled" if runtime.magento.cancel_order(entity_id) else "not cancellable"
    except Rejected as error:
        how = f"failed: {error.message}"
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, runtime.settings.order_connection)
        assert order is not None
        session.add(OrderTransition(order_pk=order.id, from_state=order.state, to_state=order.state, at=utcnow(),
                                    actor="system", facts={"magento_entity_id": entity_id, "magento": how,
                                                           "note": "created while being cancelled; Magento order "
                                                                   "cancelled"}))
        if how != "cancelled":
            exc.record(session, ExceptionReport(
                rules.ORDER_CANCEL_FAILED, order_id,
                f"Order {order_id} was cancelled on the marketplace while it was being created; Adobe Commerce "
                f"order {increment_id} could not be cancelled ({how}).", detail=how))
    log.warning("order.created_after_cancellation", order_id=order_id, magento=how)
    return how


def _add_comment(runtime: Runtime, order_id: str, entity_id: int, comment: str, status: str | None) -> None:
    """Add an order comment under the order's current status (without one, Magento sets the order's
    status to none). Magento refuses a status the order no longer has, and the warehouse may have
    moved it on since it was read (seen in the soak: shipped in between): read the status again
    and send once more. A comment still refused is logged; it must not stop the invoice."""
    try:
        runtime.magento.add_order_comment(entity_id, comment, status=status)
        return
    except Rejected:
        status = runtime.magento.get_order(entity_id).status
    try:
        runtime.magento.add_order_comment(entity_id, comment, status=status)
    except Rejected as error:
        log.warning("order.comment_rejected", order_id=order_id, error=str(error))


def finish_creation(runtime: Runtime, order_id: str) -> dict[str, Any]:
    """After creation: invoice (the marketplace already captured payment), the marketplace totals as
    an order comment, and the totals check. Each part looks at the order first, so a repeat is harmless."""
    settings = runtime.settings
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        if (order is None or order.magento_entity_id is None or order.state == S.CANCELLED.value
                or order.marketplace_state == "CANCELED"):
            # cancelled on the marketplace: not invoiced (the cancellation then needs no credit
            # memo) and no totals check against an order whose lines are all cancelled
            return {"order_id": order_id, "skipped": True}
        entity_id = order.magento_entity_id
        ours = {"subtotal": order.subtotal, "shipping": order.shipping_price, "grand_total": order.total_price}
        currency = order.currency
    magento_order = runtime.magento.get_order(entity_id)
    if not any((h.comment or "").startswith(MARKER) for h in magento_order.status_histories):
        comment = (f"{MARKER} {order_id} ({settings.order_connection}). Marketplace totals: subtotal "
                   f"{ours['subtotal']:.2f} {currency}, shipping {ours['shipping']:.2f}, total {ours['grand_total']:.2f}. "
                   "Payment captured by the marketplace.")
        _add_comment(runtime, order_id, entity_id, comment, magento_order.status)
    invoiced = False
    if magento_order.state not in ("canceled", "closed") and any(
            i.qty_invoiced + i.qty_canceled < i.qty_ordered for i in magento_order.top_level_items()):
        try:
            runtime.magento.invoice_order(entity_id, capture=True)
            invoiced = True
        except Rejected as error:
            log.warning("order.invoice_rejected", order_id=order_id, error=str(error))
    theirs = {"subtotal": magento_order.subtotal, "shipping": magento_order.shipping_amount,
              "grand_total": magento_order.grand_total}  # as Adobe Commerce sent them: JSON numbers
    differences = rules.compare_totals(ours, {k: to_money(v) for k, v in theirs.items()}, settings.totals_tolerance)
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        assert order is not None
        order.magento_totals = theirs
        if differences:
            text = ", ".join(f"{d.field} marketplace {d.marketplace:.2f} vs Adobe Commerce {d.magento:.2f}"
                             for d in differences)
            exc.record(session, ExceptionReport(
                rules.ORDER_TOTALS_MISMATCH, order_id,
                f"Order {order_id} (Adobe Commerce {order.magento_increment_id}) totals differ: {text}.",
                context={"marketplace": {k: wire_number(v) for k, v in ours.items()}, "magento": theirs}))
        else:
            exc.clear(session, rules.ORDER_TOTALS_MISMATCH, order_id)
    return {"order_id": order_id, "invoiced": invoiced, "differences": [d.field for d in differences]}


def request_retry(runtime: Runtime, order_id: str, *, actor: str) -> str:
    """A person asks to try the creation again (after fixing the cause): a new workflow id."""
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, runtime.settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.AWAITING_PAYMENT.value:
            raise DecisionNotAllowed(f"order {order_id} is {order.state}; only orders awaiting creation can be retried")
        order.create_attempt += 1
        exc.audit(session, actor, "order.retry", "order", order_id, attempt=order.create_attempt)
        return workflow_id("create", order)


# =================================================================== cancellation
def cancel_in_magento(runtime: Runtime, order_id: str) -> dict[str, Any]:
    """The marketplace cancelled an order we created: cancel it in Adobe Commerce (releasing its
    reservation) if not shipped, else raise an exception for customer service."""
    settings = runtime.settings
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.CREATED.value or order.magento_entity_id is None:
            return {"order_id": order_id, "state": order.state, "skipped": True}
        entity_id = order.magento_entity_id
    magento_order = runtime.magento.get_order(entity_id)
    shipped = any(i.qty_shipped > 0 for i in magento_order.items)
    if shipped:
        with runtime.db.session() as session:
            exc.record(session, ExceptionReport(
                rules.ORDER_CANCELLED_AFTER_SHIPMENT, order_id,
                f"The marketplace cancelled order {order_id}, but Adobe Commerce order {magento_order.increment_id} "
                "has already shipped."))
        return {"order_id": order_id, "shipped": True}
    how = "already"
    try:
        if magento_order.state != "canceled":
            if runtime.magento.cancel_order(entity_id):
                how = "cancelled"
            else:  # invoiced: Magento needs a credit memo, which also releases the unshipped reservation
                runtime.magento.refund_order(entity_id, comment=f"{MARKER} {order_id} {CANCELLATION_NOTE}")
                how = "credit_memo"
    except Rejected as error:
        with runtime.db.session() as session:
            exc.record(session, ExceptionReport(
                rules.ORDER_CANCEL_FAILED, order_id,
                f"Order {order_id} was cancelled on the marketplace but Adobe Commerce order "
                f"{magento_order.increment_id} could not be cancelled.", detail=str(error)))
        return {"order_id": order_id, "failed": str(error)}
    with runtime.db.session() as session:
        order = get_order_record(session, order_id, settings.order_connection)
        assert order is not None
        order.reason = "cancelled on the marketplace before shipment"
        _transition(session, order, S.CANCELLED, actor="marketplace", magento=how)
        exc.clear(session, rules.ORDER_CANCEL_FAILED, order_id)
    return {"order_id": order_id, "cancelled": how}


def report_unreachable(runtime: Runtime, order_id: str, phase: str, error: str) -> None:
    """A per-order workflow gave up after retrying a remote system that kept failing."""
    type_ = {"accept": rules.ORDER_DECISION_FAILED, "cancel": rules.ORDER_CANCEL_FAILED}.get(
        phase, rules.ORDER_CREATION_FAILED)
    what = {"accept": "decide on", "cancel": "cancel", "create": "create", "finish": "invoice"}.get(phase, phase)
    with runtime.db.session() as session:
        exc.record(session, ExceptionReport(
            type_, order_id,
            f"marketbridge could not {what} order {order_id}: a remote system kept failing, so it stopped retrying.",
            detail=error))


# =================================================================== housekeeping
def housekeeping(runtime: Runtime, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Held-order reminders, stuck detection and the personal-data purge (services/personal_data.py)."""
    settings = runtime.settings
    now = now or utcnow()
    reminders = stuck_count = 0
    with runtime.db.session() as session:
        held = session.scalars(select(MarketplaceOrder).where(MarketplaceOrder.state == S.HELD.value)).all()
        for order in held:
            deadline = order.acceptance_deadline
            if deadline and rules.reminder_due(deadline, now, settings.order_acceptance_reminder_seconds):
                minutes = int((deadline - now).total_seconds() // 60)
                exc.record(session, ExceptionReport(
                    rules.ORDER_ACCEPTANCE_DEADLINE_NEAR, order.order_id,
                    f"Held order {order.order_id} is refused automatically in about {minutes} minutes "
                    f"(at {deadline.strftime('%Y-%m-%d %H:%M UTC')}).",
                    context={"acceptance_deadline": deadline.isoformat()}))
                order.reminded_at = now
                reminders += 1
        watched = list(rules.STUCK_TYPES)
        for order in session.scalars(select(MarketplaceOrder).where(
                MarketplaceOrder.state.in_([s.value for s in watched]))).all():
            type_ = rules.get_type_for_stuck(order.state)
            if rules.stuck(order.state, order.state_changed_at, now, settings.order_stuck_max_age_seconds):
                hours = (now - order.state_changed_at).total_seconds() / 3600
                exc.record(session, ExceptionReport(
                    type_, order.order_id,
                    f"Order {order.order_id} has been {order.state.replace('_', ' ')} for {hours:.1f} hours.",
                    context={"state": order.state}))
                stuck_count += 1
        for state in watched:  # the condition cleared for orders that moved on
            for type_ in {rules.get_type_for_stuck(state)}:
                for record_ in exc.list_records(session, exc.ExceptionFilter(type=type_.code, active_only=True)):
                    current = get_order_record(session, record_.object_id, settings.order_connection)
                    if current is None or current.state != record_.context.get("state"):
                        exc.clear(session, type_, record_.object_id)
        purged = personal_data.purge(session, settings, now)  # every retention rule, every state
    return {"reminders": reminders, "stuck": stuck_count, **purged}


def purge_personal_data(order: MarketplaceOrder, now: dt.datetime) -> None:
    order.customer_name = None
    order.shipping_address = None
    order.raw = _strip_personal(order.raw or {})
    order.personal_data_purged_at = now


# =================================================================== reading
def list_orders(session: Session, settings: Settings, *, state: str | None = None, limit: int = 100,
                offset: int = 0) -> list[MarketplaceOrder]:
    query = select(MarketplaceOrder).where(MarketplaceOrder.connection == settings.order_connection)
    if state:
        query = query.where(MarketplaceOrder.state == state)
    query = query.order_by(MarketplaceOrder.marketplace_created_at.desc(), MarketplaceOrder.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset).options(selectinload(MarketplaceOrder.lines))).all())


def to_dict(order: MarketplaceOrder, *, detail: bool = False) -> dict[str, Any]:
    """An order as our JSON API and CLI show it. Amounts are JSON numbers (``19.99``), as they have
    always been, converted from the stored ``Decimal`` at this last step by ``wire_number``."""
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    data: dict[str, Any] = {
        "order_id": order.order_id,
        "connection": order.connection,
        "commercial_id": order.commercial_id,
        "state": order.state,
        "state_changed_at": iso(order.state_changed_at),
        "marketplace_state": order.marketplace_state,
        "currency": order.currency,
        "marketplace_totals": {"subtotal": wire_number(order.subtotal), "shipping": wire_number(order.shipping_price),
                               "grand_total": wire_number(order.total_price)},
        "magento_entity_id": order.magento_entity_id,
        "magento_increment_id": order.magento_increment_id,
        "acceptance_deadline": iso(order.acceptance_deadline),
        "reason": order.reason,
        "received_at": iso(order.received_at),
        "marketplace_updated_at": iso(order.marketplace_updated_at),
    }
    if detail:
        data["magento_totals"] = order.magento_totals or {}
        data["decision"] = order.decision or {}
        data["customer_debited_at"] = iso(order.customer_debited_at)
        data["personal_data_purged_at"] = iso(order.personal_data_purged_at)
        data["lines"] = [{
            "order_line_id": line.order_line_id, "offer_sku": line.offer_sku, "magento_sku": line.magento_sku,
            "sku_match": line.sku_match, "quantity": line.quantity, "unit_price": wire_number(line.unit_price),
            "price": wire_number(line.price), "shipping_price": wire_number(line.shipping_price),
            "marketplace_state": line.marketplace_state,
            "accepted": line.accepted, "reasons": line.reasons,
        } for line in order.lines]
        data["transitions"] = [{"from": t.from_state, "to": t.to_state, "at": iso(t.at), "actor": t.actor,
                                "facts": t.facts} for t in order.transitions]
    return data
