"""Use cases of the stock and price flow: refresh hinted SKUs, poll, full resync, push a batch.

Every path (webhook hint, poll, resync, rule change) ends in :func:`apply_readings`, which runs the
pure rules of :mod:`marketbridge.domain.stock` and writes the outbox, so the same SKU in the same
state always publishes the same value whichever way the change was noticed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from sqlalchemy import bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import PublishOverride
from marketbridge.adapters.db.models.core import ExceptionRecord, StreamCursor
from marketbridge.adapters.db.models.stock import SkuPushLog, SkuState, SyncBatch, SyncLane
from marketbridge.adapters.errors import RemoteError
from marketbridge.domain import stock as rules_domain
from marketbridge.domain.catalogue import OverrideAction
from marketbridge.domain.exceptions import ExceptionReport, ExceptionType
from marketbridge.domain.stock import (
    COMPOSITE_TYPES,
    PRODUCT_UNREADABLE,
    SKU_UNKNOWN_ON_MARKETPLACE,
    STOCK_IMPORT_FAILED,
    STOCK_LINE_REJECTED,
    Kind,
    Lane,
    PriceFacts,
    ProductFacts,
    Rule,
)
from marketbridge.memory import release_free_memory
from marketbridge.runtime import Runtime
from marketbridge.services import exceptions as exception_service
from marketbridge.services import skus as skus_service
from marketbridge.services import webhooks as webhook_service
from marketbridge.services.exceptions import ACTIVE_STATES
from marketbridge.services.stock import outbox, reading
from marketbridge.services.stock.rules import load_rules
from marketbridge.settings import OrderCreationMode, Settings

log = structlog.get_logger(__name__)

APPLY_CHUNK = 2000
LARGE_PASS = 5000  # SKUs: after a pass this large, free heap pages go back to the system
HISTORY_DAYS = 14  # per-SKU push history kept this long (sku_push_log)
PHASE_LOG_MIN_SKUS = 20  # a pass this large logs where its read time went
DETAIL_READ_LIMIT = 200  # per refresh pass; more than that waits for the next pass
EXPORT_EXACT_READ_MAX = 10  # export mode: more hinted SKUs than this are read 100 a call


def lanes(settings: Settings) -> list[Lane]:
    return rules_domain.plan_lanes(
        stock_enabled=settings.stock_sync_enabled,
        price_enabled=settings.price_sync_enabled,
        stock_api=settings.stock_import_api.value,
        price_api=settings.price_import_api.value,
    )


def import_interval(settings: Settings) -> float:
    """Seconds between two uploads of one import API (Mirakl: once a minute), scaled in tests."""
    return 60.0 * settings.mirakl_rate_limit_scale


def enabled_kinds(settings: Settings) -> set[Kind]:
    kinds = set()
    if settings.stock_sync_enabled:
        kinds.add(Kind.STOCK)
    if settings.price_sync_enabled:
        kinds.add(Kind.PRICE)
    return kinds


# =============================================================================== computing values
@dataclass
class Reading:
    """What one pass learned about one SKU. ``None`` fields were not read this time."""

    sku: str
    product: reading.ProductRead | None = None
    salable: float | None = None
    stock_read: bool = False  # salable was read (None then means "Magento cannot say")
    fingerprint: str | None = None
    exact: bool = False
    reservations_suspected: bool | None = None
    missing: bool = False  # the product no longer exists in Magento


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def facts_of(state: Mapping[str, Any]) -> ProductFacts:
    return ProductFacts(
        sku=state["sku"], enabled=bool(state["enabled"]), type_id=state["type_id"],
        manage_stock=bool(state["manage_stock"]), attributes=dict(state["attributes"] or {}),
        category_ids=list(state["category_ids"] or []),
    )


def price_facts_of(state: Mapping[str, Any]) -> PriceFacts:
    return PriceFacts(price=_decimal(state["price"]), special_price=_decimal(state["special_price"]),
                      special_from=_date(state["special_from"]), special_to=_date(state["special_to"]))


def compute(state: Mapping[str, Any], rules: Sequence[Rule], settings: Settings, today: dt.date,
            published_as_simple: frozenset[str] = frozenset(), *, sold_not_created: float = 0.0) -> tuple[
        tuple[int, str] | None, tuple[Decimal | None, str]]:
    """(quantity, rule) and (price, rule); quantity None for products with no offer of their own:
    composites (parents and bundles) and what the catalogue excludes (virtual, required options).

    ``sold_not_created``: units of marketplace orders not yet created in Adobe Commerce (see
    :func:`units_sold_not_in_magento`); they are off Magento's salable quantity for publication."""
    if state["type_id"] in COMPOSITE_TYPES:
        return None, (None, "composite")
    excluded = rules_domain.offer_exclusion(state["type_id"], state["attributes"] or {},
                                            publish_as_simple=state["sku"] in published_as_simple)
    if excluded is not None:
        rule = f"not on the marketplace: {excluded}"[:255]
        if state["published_qty"]:  # it had an offer (rule or product changed since): drain it to 0
            return (0, rule), (None, rule)
        return None, (None, rule)
    facts = facts_of(state)
    salable = state["magento_qty"]
    if salable is not None and sold_not_created:
        salable -= sold_not_created
    qty = rules_domain.publishable_quantity(salable, facts, rules,
                                            unmanaged_default=settings.stock_unmanaged_default_quantity)
    if sold_not_created and facts.manage_stock:
        qty = (qty[0], f"{qty[1]}; {sold_not_created:g} sold on the marketplace, not yet in Adobe Commerce"[:255])
    return qty, rules_domain.channel_price(price_facts_of(state), facts, rules, today)


def units_sold_not_in_magento(session: Session, skus: Sequence[str], *, until_shipped: bool = False,
                              ) -> dict[str, float]:
    """Per Magento SKU, the units of marketplace orders that Mirakl has already taken off the offer
    and Adobe Commerce does not hold yet (received, held, accepted, awaiting payment or stock).

    Publishing Magento's salable quantity alone in that window would put sold units back on sale
    (an import sets the offer's quantity outright), and a second customer could buy a unit that
    exists once. Once the order is created, Magento's reservation takes over; a refused or
    cancelled order leaves this sum and its SKUs are re-published (services/orders.py).
    ``until_shipped``: orders created without a reservation (``direct`` creation) count until they
    ship, when Magento deducts the units from the source."""
    from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
    from marketbridge.domain.orders import PRE_CREATION_STATES, OrderState

    states = {s.value for s in PRE_CREATION_STATES} | ({OrderState.CREATED.value} if until_shipped else set())
    out: dict[str, float] = {}
    wanted = set(skus)
    rows = session.execute(
        select(OrderLine.magento_sku, func.sum(OrderLine.quantity))
        .join(MarketplaceOrder, OrderLine.order_pk == MarketplaceOrder.id)
        .where(MarketplaceOrder.state.in_(sorted(states)),
               OrderLine.magento_sku.is_not(None),
               or_(OrderLine.accepted.is_(None), OrderLine.accepted.is_(True)),
               OrderLine.marketplace_state.not_in(("REFUSED", "CANCELED")))
        .group_by(OrderLine.magento_sku))
    for sku, units in rows:
        if sku in wanted and units:
            out[sku] = float(units)
    return out


def published_as_simple(session: Session) -> frozenset[str]:
    """SKUs the catalogue publishes despite a default exclusion (its ``publish_as_simple`` rules)."""
    return frozenset(session.scalars(select(PublishOverride.magento_sku).where(
        PublishOverride.action == OverrideAction.PUBLISH_AS_SIMPLE.value)))


STATE_TABLE = SkuState.__table__
STATE_COLUMNS = [c.name for c in STATE_TABLE.columns]


def _new_state(sku: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(STATE_COLUMNS)
    row.update(sku=sku, enabled=True, type_id="simple", manage_stock=True, min_qty=0.0, attributes={},
               category_ids=[], reservations_suspected=False, stock_rule="", stock_result="", stock_message="",
               price_rule="", price_result="", price_message="")
    return row


READ_STATE_COLUMNS = ("sku", "type_id", "min_qty", "manage_stock", "reservations_suspected")  # what a read needs


def _load_states(session: Session, skus: Sequence[str], *, columns: Sequence[str] | None = None,
                 ) -> dict[str, dict[str, Any]]:
    """Per-SKU state rows as plain dicts (Core, not ORM: the full resync handles 50,000 at once);
    ``columns`` limits them to what the caller reads (a burst touches most of the catalogue)."""
    selected = [STATE_TABLE.c[name] for name in columns] if columns else [STATE_TABLE]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(skus), outbox.CHUNK):
        part = skus[start : start + outbox.CHUNK]
        for row in session.execute(select(*selected).where(STATE_TABLE.c.sku.in_(part))).mappings():
            out[row["sku"]] = dict(row)
    return out


def _existing_skus(session: Session, skus: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(skus), outbox.CHUNK):
        out.update(session.scalars(select(SkuState.sku).where(SkuState.sku.in_(skus[start : start + outbox.CHUNK]))))
    return out


# What the push side (upload, results) writes while a read may be in progress. A read writes its
# rows back from the snapshot it loaded first, so it must never write these: found by the full soak,
# a result landing during a read was undone (published 9 again after 0 was confirmed), the next
# reading of 9 then matched it, and the offer stayed at 0 with nothing left to correct it.
PUSH_COLUMNS = frozenset({
    f"{kind}_{name}" for kind in ("stock", "price")
    for name in ("import_id", "pushed_at", "completed_at", "latency_seconds", "result", "message")
} | {"published_qty", "published_price"})


KEEP = "(keep)"  # in a read's row: leave this result column as the push side last wrote it


def _save_states(session: Session, rows: Sequence[dict[str, Any]], *, pending: Mapping[Kind, set[str]],
                 created: set[str]) -> None:
    """Upsert what a read learnt: new rows in full, existing rows without the push side's columns.
    A result column changes only to ``pending``, for SKUs whose value was just queued."""
    if not rows:
        return
    results = {Kind.STOCK: "stock_result", Kind.PRICE: "price_result"}
    for row in rows:
        if row["sku"] not in created:
            for kind, column in results.items():
                if row["sku"] not in pending[kind]:
                    row[column] = KEEP
    stmt = outbox._insert(session, SkuState)
    ex = stmt.excluded  # type: ignore[attr-defined]
    set_ = {name: ex[name] for name in STATE_COLUMNS if name != "sku" and name not in PUSH_COLUMNS}
    for column in results.values():
        set_[column] = case((ex[column] == KEEP, STATE_TABLE.c[column]), else_=ex[column])
    # Second line of defence for rows created by two passes at once (nothing to lock before they
    # exist): an older read never writes over a newer one.
    newer_or_same = or_(STATE_TABLE.c.read_at.is_(None), ex.read_at.is_(None), STATE_TABLE.c.read_at <= ex.read_at)
    stmt = stmt.on_conflict_do_update(index_elements=["sku"], set_=set_, where=newer_or_same)  # type: ignore[attr-defined]
    for start in range(0, len(rows), 1000):
        session.execute(stmt, list(rows[start : start + 1000]))


def database_now(session: Session) -> dt.datetime:
    """The database's clock (PostgreSQL: ``clock_timestamp()``, the moment of the call, not the
    transaction's start), so workers on several hosts compare read times on one clock. SQLite is
    one host's file: that host's clock."""
    if session.get_bind().dialect.name == "postgresql":
        moment = session.scalar(select(func.clock_timestamp()))
        if isinstance(moment, dt.datetime):
            return moment.astimezone(dt.UTC)
    return utcnow()


def _has_facts(item: Reading) -> bool:
    """The reading carries something read from Adobe Commerce (not a bare recompute)."""
    return (item.product is not None or item.stock_read or item.missing or item.fingerprint is not None
            or item.reservations_suspected is not None)


def _lock_states(session: Session, skus: Sequence[str]) -> None:
    """Make load-compare-write of these SKUs' rows atomic for the rest of the transaction, so the
    "newer facts win" comparison cannot be overtaken by another worker's write in between.

    PostgreSQL: lock the existing rows (sorted, so two passes never deadlock on each other).
    SQLite: take the database's write lock now (a write that changes nothing); without it the
    reads before the first write run outside the transaction and another process may commit
    between them."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(SyncLane).where(SyncLane.api.is_(None)).values(api=SyncLane.api))
        return
    ordered = sorted(set(skus))
    for start in range(0, len(ordered), outbox.CHUNK):
        session.execute(select(STATE_TABLE.c.sku).where(STATE_TABLE.c.sku.in_(ordered[start : start + outbox.CHUNK]))
                        .order_by(STATE_TABLE.c.sku).with_for_update())


def _active_exception_ids(session: Session, types: Iterable[ExceptionType], skus: Iterable[str]) -> dict[str, set[str]]:
    """``{sku: {type codes}}`` of active SKU exceptions, to clear only what exists (cheap in bulk)."""
    codes = [t.code for t in types]
    wanted = set(skus)
    out: dict[str, set[str]] = {}
    for code, object_id in session.execute(
        select(ExceptionRecord.type, ExceptionRecord.object_id).where(
            ExceptionRecord.type.in_(codes), ExceptionRecord.state.in_(ACTIVE_STATES)
        )
    ):
        if object_id in wanted:
            out.setdefault(object_id, set()).add(code)
    return out


@dataclass
class ApplyResult:
    stock_enqueued: int = 0
    price_enqueued: int = 0
    unreadable: int = 0
    skus: int = 0

    def add(self, other: ApplyResult) -> None:
        self.stock_enqueued += other.stock_enqueued
        self.price_enqueued += other.price_enqueued
        self.unreadable += other.unreadable
        self.skus += other.skus


def apply_readings(
    session: Session,
    settings: Settings,
    readings: Sequence[Reading],
    noticed: dict[str, dt.datetime],
    *,
    force: set[str] | None = None,
    rules: Sequence[Rule] | None = None,
    today: dt.date | None = None,
    read_at: dt.datetime | None = None,
) -> ApplyResult:
    """Store what was read, compute the values to publish, enqueue those that differ from what
    was last handed to the marketplace (or every one in ``force``)."""
    result = ApplyResult(skus=len(readings))
    if not readings:
        return result
    force = force or set()
    rules = load_rules(session) if rules is None else rules
    as_simple = published_as_simple(session)
    today = today or dt.datetime.now(dt.UTC).date()
    kinds = enabled_kinds(settings)
    now = utcnow()
    skus = [r.sku for r in readings]
    _lock_states(session, skus)
    # The outbox before the states: a result that lands in between has then cleared the in-flight
    # value *and* set the published one, so either read shows the value last sent, never an older one.
    stock_last = outbox.last_sent_values(session, Kind.STOCK, skus)
    price_last = outbox.last_sent_values(session, Kind.PRICE, skus)
    states = _load_states(session, skus)
    sold = units_sold_not_in_magento(
        session, skus, until_shipped=settings.order_creation_mode is OrderCreationMode.DIRECT)
    changes: list[outbox.Change] = []
    unreadable: list[tuple[str, str]] = []
    readable: list[str] = []
    dirty: list[dict[str, Any]] = []
    created: set[str] = set()
    reread: list[str] = []
    for item in readings:
        state = states.get(item.sku)
        if state is None:
            if item.product is None:
                unreadable.append((item.sku, "Adobe Commerce has no product with this SKU"))
                continue
            state = _new_state(item.sku)
            states[item.sku] = state
            created.add(item.sku)
        if read_at is not None and _has_facts(item):
            if state["read_at"] is not None and state["read_at"] > read_at:
                # Newer facts win: a read that started after this one has written the row (another
                # worker, a refresh beside a full resync). Compute from the stored, newer facts;
                # if that read did not carry product facts and this one did, read them again.
                if item.product is not None and (state["facts_at"] is None or state["facts_at"] < read_at):
                    reread.append(item.sku)
                item = Reading(sku=item.sku)
            else:
                state["read_at"] = read_at
        if item.missing:
            state["enabled"] = False  # deleted in Magento: nothing left to sell
        if item.product is not None:
            p = item.product
            state.update(enabled=p.enabled, type_id=p.type_id, attributes=p.attributes, category_ids=p.category_ids,
                         price=p.price, special_price=p.special_price, special_from=p.special_from,
                         special_to=p.special_to, facts_at=read_at or now)
            if p.manage_stock is not None:
                state["manage_stock"] = p.manage_stock
            if p.min_qty is not None:
                state["min_qty"] = p.min_qty
        if item.stock_read:
            state["magento_qty"] = item.salable
        if item.fingerprint is not None:
            state["source_fingerprint"] = item.fingerprint
        if item.reservations_suspected is not None:
            state["reservations_suspected"] = item.reservations_suspected
        first = noticed.get(item.sku, now)
        state["noticed_at"] = first
        state["updated_at"] = now
        readable.append(item.sku)
        qty, (price, price_rule) = compute(state, rules, settings, today, as_simple,
                                           sold_not_created=sold.get(item.sku, 0.0))
        if qty is None:
            state["target_qty"], state["stock_rule"] = None, price_rule
        else:
            state["target_qty"], state["stock_rule"] = qty
            published = state["published_qty"]
            last = stock_last.get(item.sku, None if published is None else str(published))
            if Kind.STOCK in kinds and (str(qty[0]) != last or item.sku in force):
                changes.append(outbox.Change(Kind.STOCK, item.sku, str(qty[0]), first))
                state["stock_result"] = "pending"
                result.stock_enqueued += 1
        base = rules_domain.magento_price(price_facts_of(state), today)
        state["magento_price"] = None if base is None else str(base)
        state["price_rule"] = price_rule
        if price is not None:
            text = rules_domain.format_price(price)
            state["target_price"] = text
            last_price = price_last.get(item.sku, state["published_price"])
            if Kind.PRICE in kinds and (text != last_price or item.sku in force):
                changes.append(outbox.Change(Kind.PRICE, item.sku, text, first))
                state["price_result"] = "pending"
                result.price_enqueued += 1
        dirty.append(state)
    _save_states(session, dirty, pending={kind: {c.sku for c in changes if c.kind is kind} for kind in Kind},
                 created=created)
    outbox.enqueue(session, changes, read_at=read_at)
    if reread:
        outbox.note_hints(session, reread, price=True, details=True, reason="reread:newer-stock-facts")
    for sku, why in unreadable:
        exception_service.record(session, ExceptionReport(
            type=PRODUCT_UNREADABLE, object_id=sku,
            message=f"A stock or price change was noticed for {sku}, but {why.lower()}; nothing was sent for it.",
            detail=why))
    result.unreadable = len(unreadable)
    for sku in _active_exception_ids(session, [PRODUCT_UNREADABLE], readable):
        exception_service.clear(session, PRODUCT_UNREADABLE, sku)
    return result


# =============================================================================== refresh hinted SKUs
@dataclass
class RefreshResult:
    hints: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)


def export_blind_spots(exported: Mapping[str, reading.Exported], type_of: Mapping[str, str],
                       known_unmanaged: set[str]) -> set[str]:
    """SKUs whose export row cannot say their salable quantity (``qty 0`` with ``is_salable``
    true: Magento's answer for a product that does not manage stock) and that we still take for
    managed. Only their product detail tells (the list API has no stock item): without it an
    unmanaged product was published with its source quantity instead of the configured default."""
    return {sku for sku, row in exported.items()
            if row.salable is None and sku in type_of and type_of[sku] not in COMPOSITE_TYPES
            and sku not in known_unmanaged}


def read_for(runtime: Runtime, skus: Sequence[str], *, details: set[str], exact: set[str],
             need_products: set[str], topology: reading.StockTopology | None = None) -> list[Reading]:
    """Read Magento for these SKUs: product facts where needed, salable quantity for all."""
    settings = runtime.settings
    magento = runtime.magento
    # Where a slow pass spends its time (logged once per pass): a pass holds back every change
    # noticed after it began, so its phases are what the restart figures are made of.
    phases: dict[str, float] = {}
    mark = time.monotonic()
    products = reading.read_products(magento, sorted(need_products)) if need_products else {}
    phases["products_s"] = time.monotonic() - mark
    detail_skus = sorted(details)[:DETAIL_READ_LIMIT]
    if detail_skus:
        mark = time.monotonic()
        products.update(reading.read_product_details(magento, detail_skus, settings.stock_read_concurrency))
        phases["details_s"] = time.monotonic() - mark
    with runtime.db.session() as session:
        states = _load_states(session, list(skus), columns=READ_STATE_COLUMNS)
    type_of = {s: (products[s].type_id if s in products else (states[s]["type_id"] if s in states else "simple")) for s in skus}
    stock_skus = [s for s in skus if type_of[s] not in COMPOSITE_TYPES]
    physical: dict[str, reading.Physical] = {}
    exported: dict[str, reading.Exported] | None = None
    with runtime.db.session() as session:
        catalogue_size = int(session.scalar(select(func.count()).select_from(SkuState)) or 0)
    # One scan reads every source item (~1/300 of a call per SKU); exact reads cost a call each.
    exact_limit = min(settings.stock_exact_read_max, max(100, catalogue_size // 25))
    if settings.stock_salable_read == "export":
        # The export is as exact as the per-SKU call (reservations included) at 100 SKUs a call:
        # per-SKU reads only for a handful (one webhook's worth).
        exact_limit = min(exact_limit, EXPORT_EXACT_READ_MAX)
    if settings.stock_salable_read == "exact" or len(stock_skus) <= exact_limit:
        # A few SKUs: one exact salable-quantity read each (includes reservations).
        exact_skus = set(stock_skus)
    else:
        # Many SKUs (a burst): 100 SKUs a call (``sku in``), or one scan of the whole table when
        # they are a large part of the catalogue; source items and the salable export overlap.
        topology = topology or reading.read_topology(magento, settings.magento_stock_id)
        wanted: list[str] | None = stock_skus if len(stock_skus) * 4 < catalogue_size else None
        with ThreadPoolExecutor(max_workers=2) as pool:
            physical_future = pool.submit(reading.read_physical, magento, wanted, topology)
            export_future = (pool.submit(reading.read_salable_export, magento, settings.magento_stock_id, wanted)
                             if settings.stock_salable_read == "export" else None)
            mark = time.monotonic()
            physical = physical_future.result()
            exported = export_future.result() if export_future is not None else None
            phases["bulk_s"] = time.monotonic() - mark
        if exported is not None:
            exact_skus = set()  # the export counts reservations; unlisted SKUs are computed
            unmanaged = {s for s, st in states.items() if st.get("manage_stock") is False}
            blind = export_blind_spots(exported, type_of, unmanaged) - {
                sku for sku, product in products.items() if product.manage_stock is not None}
            if blind:
                products.update(reading.read_product_details(
                    magento, sorted(blind)[:DETAIL_READ_LIMIT], settings.stock_read_concurrency))
        else:
            exact_skus = set(exact) | {s for s, st in states.items() if st["reservations_suspected"]}
        exact_skus = {s for s in exact_skus if type_of[s] not in COMPOSITE_TYPES}
    mark = time.monotonic()
    exact_values = reading.read_salable_exact(magento, sorted(exact_skus), settings.magento_stock_id,
                                              settings.stock_read_concurrency)
    phases["exact_s"] = time.monotonic() - mark
    if len(skus) >= PHASE_LOG_MIN_SKUS:
        log.info("stock.read_phases", skus=len(skus), products=len(need_products), details=len(detail_skus),
                 exact=len(exact_skus), **{k: round(v, 2) for k, v in phases.items()})
    readings = []
    for sku in skus:
        product = products.get(sku)
        state = states.get(sku)
        missing = product is None and sku in need_products and state is not None
        min_qty = product.min_qty if product is not None and product.min_qty is not None else (
            state["min_qty"] if state is not None else 0.0)
        phys = physical.get(sku)
        computed = reading.computed_salable(phys, min_qty)
        fingerprint = (phys.fingerprint if phys else "none") if physical else None
        item = Reading(sku=sku, product=product, fingerprint=fingerprint, missing=missing)
        if type_of[sku] in COMPOSITE_TYPES:
            item.stock_read = False
        elif exported is not None and sku in exported and sku not in exact_values:
            from_export = exported[sku].salable
            item.salable = computed if from_export is None else from_export
            item.stock_read = True
            item.reservations_suspected = from_export is not None and abs(from_export - computed) > 1e-9
        elif sku in exact_values:
            item.salable = exact_values[sku]
            item.stock_read = True
            item.exact = True
            # reservations (or an unknown min qty) explain any gap between exact and computed
            if physical:
                item.reservations_suspected = item.salable is not None and abs(item.salable - computed) > 1e-9
        else:
            item.salable = computed
            item.stock_read = True
        readings.append(item)
    return readings


_passes_lock = threading.Lock()
_passes = 0
_in_flight: set[str] = set()  # SKUs a pass of this process has taken and not yet applied
MAX_PASSES = 2


def refresh(runtime: Runtime, *, limit: int = 100_000) -> RefreshResult:
    """Re-read Magento for every hinted SKU (oldest first, up to ``limit``) and enqueue changes.

    At most two passes at a time per process, over disjoint SKUs. A pass holds back every change
    noticed after it took its hints, for as long as it reads: one pass at a time let a slow one
    (the catch-up after a restart, 490 SKUs with product details, 35 s while Magento failed a
    call in ten) keep fresh changes off the marketplace for its whole length, and the full soak
    saw offers above Adobe Commerce for 26 s after a restart. A second pass takes only SKUs the
    first has not, so the same hint is never read twice in one process (two passes over the same
    SKUs were seen in the 50,000-SKU benchmark: two 40-second reads). A caller that finds two
    passes running gets an empty result; they or the next one take its hints. Across processes a
    double read is harmless (idempotent), only wasteful."""
    global _passes
    with _passes_lock:
        if _passes >= MAX_PASSES:
            return RefreshResult()
        _passes += 1
    taken: list[str] = []
    try:
        return _refresh(runtime, limit, taken)
    finally:
        with _passes_lock:
            _passes -= 1
            _in_flight.difference_update(taken)


def _refresh(runtime: Runtime, limit: int, taken: list[str] | None = None) -> RefreshResult:
    """One pass. ``taken`` collects the SKUs it takes, marked in flight for this process's other
    pass; ``None`` reads as another process would (no marks: tests stand in a second worker so)."""
    out = RefreshResult()
    with runtime.db.session() as session:
        if taken is None:
            hints = outbox.take_hints(session, limit)
        else:
            with _passes_lock:  # take and mark in one step, so two passes never take the same SKU
                hints = outbox.take_hints(session, limit, exclude=_in_flight)
                taken.extend(h.sku for h in hints)
                _in_flight.update(taken)
        if not hints:
            return out
        # The read's time is taken *after* the hints were taken and before Magento is read, on the
        # database's clock: every change whose hint this pass took happened before it, and a pass
        # that started later (any worker) read Magento later, so "newer facts win" compares reads
        # by when they really looked (a time taken before the take let an older read win).
        started = database_now(session)
        known = _existing_skus(session, [h.sku for h in hints])
        skus = [h.sku for h in hints]
        noticed = {h.sku: h.first_noticed_at for h in hints}
        details = {h.sku for h in hints if h.details}
        exact = {h.sku for h in hints if h.exact}
        force = {h.sku for h in hints if h.force}
        need_products = {h.sku for h in hints if h.price or h.details or h.sku not in known}
    began = time.monotonic()
    # In SKU order: each chunk locks its rows (PostgreSQL), and two workers locking in one order
    # cannot deadlock on each other.
    readings = sorted(read_for(runtime, skus, details=details, exact=exact, need_products=need_products),
                      key=lambda r: r.sku)
    read_s = time.monotonic() - began
    with runtime.db.session() as session:
        rules = load_rules(session)
        for start in range(0, len(readings), APPLY_CHUNK):
            out.applied.add(apply_readings(session, runtime.settings, readings[start : start + APPLY_CHUNK], noticed,
                                           force=force, rules=rules, read_at=started))
        outbox.delete_hints(session, hints)  # compare-and-delete: a hint noticed again meanwhile stays
    out.hints = len(hints)
    if len(hints) >= LARGE_PASS:
        release_free_memory()
    log.info("stock.refreshed", skus=len(hints), read_s=round(read_s, 2), total_s=round(time.monotonic() - began, 2),
             stock=out.applied.stock_enqueued, price=out.applied.price_enqueued)
    return out


# =============================================================================== poll and resync
CURSOR_ORDERS = "stock.orders_updated_at"
CURSOR_PRODUCTS = "stock.products_updated_at"


def _cursor(session: Session, name: str, default: str) -> str:
    row = session.get(StreamCursor, name)
    return row.value if row is not None else default


def _set_cursor(session: Session, name: str, value: str) -> None:
    row = session.get(StreamCursor, name)
    if row is None:
        session.add(StreamCursor(name=name, value=value))
    elif value > row.value:
        row.value = value


def _magento_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class PollResult:
    source_changes: int = 0
    order_skus: int = 0
    product_skus: int = 0
    redispatched: int = 0
    refresh: RefreshResult = field(default_factory=RefreshResult)


def poll(runtime: Runtime, *, overlap_seconds: float = 120.0, known_only: bool = False,
         redispatch_older_than: float = 30.0) -> PollResult:
    """The fallback when webhooks are missed: diff all source items against what we stored, and
    add the SKUs of orders placed or cancelled and of products saved since the last poll.

    ``known_only``: diff only the SKUs we hold a row for (the catch-up at start: on a database
    that has never synced, the first full sync is the full resync's business, not a start's)."""
    out = PollResult()
    began = time.monotonic()
    out.redispatched = webhook_service.redispatch_unhandled(runtime.db.session,
                                                            older_than_seconds=redispatch_older_than)
    with runtime.db.session() as session:
        session.execute(delete(SkuPushLog).where(
            SkuPushLog.completed_at < utcnow() - dt.timedelta(days=HISTORY_DAYS)))
    magento = runtime.magento
    started = utcnow()
    topology = reading.read_topology(magento, runtime.settings.magento_stock_id)
    physical = reading.read_physical(magento, None, topology)
    with runtime.db.session() as session:
        stored = dict(session.execute(select(SkuState.sku, SkuState.source_fingerprint)).all())
        default_since = _magento_time(started - dt.timedelta(seconds=overlap_seconds))
        orders_since = _cursor(session, CURSOR_ORDERS, default_since)
        first_poll = session.get(StreamCursor, CURSOR_PRODUCTS) is None
        products_since = _cursor(session, CURSOR_PRODUCTS, default_since)
    changed = [sku for sku, p in physical.items() if stored.get(sku) != p.fingerprint
               and (not known_only or sku in stored)]
    changed += [sku for sku, fp in stored.items() if fp not in (None, "none") and sku not in physical]
    order_skus, newest_order = reading.skus_of_orders_since(magento, orders_since)
    if first_poll:
        # The first poll only starts the product cursor (Magento's clock): products saved before
        # are the full resync's business, and a store imported minutes ago would otherwise be
        # re-read in full (every product "changed in the last two minutes").
        products, newest_product = {}, reading.magento_clock(magento)
    else:
        products, newest_product = reading.skus_of_products_since(magento, products_since)
    with runtime.db.session() as session:
        outbox.note_hints(session, changed, reason="poll:source-items", noticed_at=started)
        # remember what was seen, so an exact re-read (which has no fingerprint) is not re-hinted
        seen = [{"sku_": sku, "fp": physical[sku].fingerprint if sku in physical else "none"} for sku in changed]
        if seen:
            session.execute(update(STATE_TABLE).where(STATE_TABLE.c.sku == bindparam("sku_"))
                            .values(source_fingerprint=bindparam("fp")), seen)
        outbox.note_hints(session, order_skus, exact=True, reason="poll:orders", noticed_at=started)
        outbox.note_hints(session, products, price=True, details=True, reason="poll:products", noticed_at=started)
        # Magento's updated_at has one-second resolution: re-read the last second next time.
        if newest_order:
            _set_cursor(session, CURSOR_ORDERS, _shift(newest_order, -1))
        if newest_product:
            _set_cursor(session, CURSOR_PRODUCTS, _shift(newest_product, -1))
    out.source_changes, out.order_skus, out.product_skus = len(changed), len(order_skus), len(products)
    diff_s = time.monotonic() - began
    out.refresh = refresh(runtime)
    log.info("stock.polled", known_only=known_only, redispatched=out.redispatched, source_changes=len(changed),
             order_skus=len(order_skus), orders_since=orders_since, product_skus=len(products),
             products_since=products_since, diff_s=round(diff_s, 2), total_s=round(time.monotonic() - began, 2))
    return out


def catch_up(runtime: Runtime) -> PollResult:
    """What a worker does first when it starts, or when it takes over a dead worker's work: learn
    what changed in Adobe Commerce while nobody listened, before the next stock window.

    * webhook events stored but not dispatched (the worker died between storing and handling,
      or a handler failed) are dispatched now, whatever their age;
    * every source item is compared with the fingerprint we stored for it (a change made while
      the service was down, whose webhook found nobody, shows there), and orders and products
      saved since the cursors of the last poll are hinted;
    * the hinted SKUs are read at once (the caller then claims, so they leave in the next window).

    Without it such a change waited for the next scheduled poll (every 5 minutes: seen 287 s
    after a restart). A catch-up is the poll's own diff, so it costs one scan of the source items."""
    return poll(runtime, known_only=True, redispatch_older_than=0.0)


def _shift(magento_time: str, seconds: int) -> str:
    try:
        moment = dt.datetime.strptime(magento_time[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return magento_time
    return (moment + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class ResyncResult:
    skus: int = 0
    products_read: int = 0
    exact_reads: int = 0
    exported: int = 0  # rows read from export-stock-salable-qty
    applied: ApplyResult = field(default_factory=ApplyResult)
    seconds: float = 0.0


Progress = Callable[[str, int, int | None], None]  # (phase, advance, total)


def full_resync(runtime: Runtime, *, progress: Progress | None = None) -> ResyncResult:
    """Re-read every product and its stock and push every SKU, whether it looks changed or not."""

    began = time.monotonic()
    out = ResyncResult()
    settings = runtime.settings
    magento = runtime.magento
    with runtime.db.session() as session:
        noticed_at = database_now(session)
    report = progress or (lambda phase, advance, total: None)
    report("products", 0, None)
    report("stock", 0, None)
    topology = reading.read_topology(magento, settings.magento_stock_id)
    # Products and source items are independent reads: overlap them (our parsing runs while
    # Adobe Commerce prepares the other page).
    with ThreadPoolExecutor(max_workers=3) as pool:
        products_future = pool.submit(reading.read_products, magento, None,
                                      progress=lambda n: report("products", n, None))
        physical_future = pool.submit(reading.read_physical, magento, None, topology,
                                      progress=lambda n: report("stock", n, None))
        export_future = (pool.submit(reading.read_salable_export, magento, settings.magento_stock_id)
                         if settings.stock_salable_read == "export" else None)
        products = products_future.result()
        physical = physical_future.result()
        exported = export_future.result() if export_future is not None else None
    with runtime.db.session() as session:
        states = dict(session.execute(select(SkuState.sku, SkuState.reservations_suspected)).all())
        min_qty = dict(session.execute(select(SkuState.sku, SkuState.min_qty)).all())
        unmanaged = set(session.scalars(select(SkuState.sku).where(SkuState.manage_stock.is_(False))))
    if exported is not None:
        blind = export_blind_spots(exported, {s: p.type_id for s, p in products.items()}, unmanaged)
        if blind:  # learn manage_stock (and min_qty) where the export cannot tell: a few SKUs
            products.update(reading.read_product_details(magento, sorted(blind), settings.stock_read_concurrency))
        # Magento's export already counts reservations: read exactly only what it cannot say
        # (unmanaged stock) or did not list (a product created between the two reads).
        out.exported = len(exported)
        exact = {s for s in products if s not in exported}
    else:
        exact = reading.skus_on_open_orders(magento) | {s for s, flag in states.items() if flag}
    if settings.stock_salable_read == "exact":
        exact = set(products)
    exact = {s for s in exact if s in products and products[s].type_id not in COMPOSITE_TYPES}
    report("exact", 0, len(exact))
    exact_values = reading.read_salable_exact(magento, sorted(exact), settings.magento_stock_id,
                                              settings.stock_read_concurrency)
    out.exact_reads = len(exact_values)
    readings: list[Reading] = []
    for sku, product in products.items():
        phys = physical.get(sku)
        computed = reading.computed_salable(phys, min_qty.get(sku, 0.0) or 0.0)
        item = Reading(sku=sku, product=product, fingerprint=phys.fingerprint if phys else "none")
        if product.type_id not in COMPOSITE_TYPES:
            item.stock_read = True
            export_row = exported.get(sku) if exported is not None else None
            if export_row is not None and sku not in exact_values:
                from_export = export_row.salable
                item.salable = computed if from_export is None else from_export
                item.reservations_suspected = from_export is not None and abs(from_export - computed) > 1e-9
            elif sku in exact_values:
                item.salable = exact_values[sku]
                item.reservations_suspected = item.salable is not None and abs(item.salable - computed) > 1e-9
            else:
                item.salable = computed
        readings.append(item)
    for sku in set(states) - set(products):  # deleted in Magento since we last saw it
        readings.append(Reading(sku=sku, missing=True, stock_read=True, salable=0.0, fingerprint="none"))
    readings.sort(key=lambda r: r.sku)  # lock order, as in a refresh
    out.skus = len(readings)
    out.products_read = len(products)
    noticed = {r.sku: noticed_at for r in readings}
    report("apply", 0, len(readings))
    # One transaction for the whole catalogue: the push loop sees every SKU at once, so a full
    # resync leaves in one import per API instead of being split across one-minute windows.
    with runtime.db.session() as session:
        rules = load_rules(session)
        for start in range(0, len(readings), APPLY_CHUNK):
            part = readings[start : start + APPLY_CHUNK]
            out.applied.add(apply_readings(session, settings, part, noticed, force={r.sku for r in part}, rules=rules,
                                           read_at=noticed_at))
            report("apply", len(part), len(readings))
    out.seconds = time.monotonic() - began
    return out


def reapply_rules(runtime: Runtime) -> ApplyResult:
    """After a rule change: recompute every SKU from what we stored (no Magento reads)."""
    out = ApplyResult()
    with runtime.db.session() as session:
        skus = list(session.scalars(select(SkuState.sku)))
        rules = load_rules(session)
    now = utcnow()
    for start in range(0, len(skus), APPLY_CHUNK):
        part = skus[start : start + APPLY_CHUNK]
        with runtime.db.session() as session:
            out.add(apply_readings(session, runtime.settings, [Reading(sku=s) for s in part],
                                   dict.fromkeys(part, now), rules=rules))
    return out


# =============================================================================== pushing
def seconds_to_window(runtime: Runtime) -> float | None:
    """Seconds until the next lane without a batch in flight may upload again (None: none is
    waiting). The tick sleeps that long when it is shorter than its own period, so a batch leaves
    as the window opens rather than up to one tick later."""
    interval = import_interval(runtime.settings)
    now = utcnow()
    waits = []
    with runtime.db.session() as session:
        for lane in lanes(runtime.settings):
            row = session.get(SyncLane, lane.api)
            if row is not None and row.active_batch_id is None and row.last_sent_at is not None:
                waits.append(interval - (now - row.last_sent_at).total_seconds())
    waits = [w for w in waits if w > 0]
    return min(waits) if waits else None


def claim_all(runtime: Runtime) -> list[int]:
    """For every lane: the batch in flight or a new one when the window allows. Batch ids.

    A batch in flight for longer than ``stock_batch_stale_seconds`` (its owner died for good:
    a CLI killed mid-push, a workflow cancelled by hand) is released first, so a lane never
    stays blocked; its values go back to pending."""
    ids = []
    stale = utcnow() - dt.timedelta(seconds=runtime.settings.stock_batch_stale_seconds)
    for lane in lanes(runtime.settings):
        with runtime.db.session() as session:
            for batch in outbox.active_batches(session):
                if batch.api == lane.api and batch.created_at < stale:
                    outbox.release(session, batch.id, "no progress for too long; values queued again")
        with runtime.db.session() as session:
            batch_id = outbox.claim(session, lane.api, lane.kinds, interval_seconds=import_interval(runtime.settings))
        if batch_id is not None:
            ids.append(batch_id)
    return ids


def _connection_id(api: str) -> str:
    return f"mirakl:{api}"


def _offer_skus(session: Session) -> dict[str, str]:
    """Magento SKU -> marketplace offer SKU for every confirmed link (e.g. a trailing space on the
    marketplace). Unlinked SKUs are sent as they are."""
    return {magento: offer for offer, magento in skus_service.all_links(session).items()}


def _submit(runtime: Runtime, api: str, values: dict[str, dict[str, str]], offer_of: Mapping[str, str]) -> str:
    columns, rows = rules_domain.import_rows(api, {offer_of.get(sku, sku): v for sku, v in values.items()})
    mirakl = runtime.mirakl
    if api == "STO01":
        return mirakl.submit_stock(rows)
    if api == "PRI01":
        return mirakl.submit_prices(rows)
    return mirakl.submit_offers(rows, columns, mode="NORMAL")


def upload(runtime: Runtime, batch_id: int, owner: str | None = None) -> dict[str, Any]:
    """Send the batch's file once. ``owner`` (the batch's workflow id, or the CLI's id) takes the
    batch from ``claimed`` to ``uploading`` with a conditional UPDATE, so two processes never send
    the same batch; a recovered workflow (same owner) continues. A batch that already has an
    import id is not resent.

    On failure (after the client's own 429 handling) the batch is released — its values go back to
    pending — and an Ops exception is recorded; the next window retries.
    """
    owner = owner or outbox.batch_workflow_id(batch_id)
    with runtime.db.session() as session:
        won = session.execute(
            update(SyncBatch).where(SyncBatch.id == batch_id, SyncBatch.state == "claimed")
            .values(state="uploading", workflow_id=owner)
        ).rowcount
        batch = session.get(SyncBatch, batch_id)
        if batch is None:
            return {"state": "missing"}
        if not won and not (batch.state == "uploading" and batch.workflow_id == owner):
            return {"state": batch.state, "api": batch.api, "import_id": batch.import_id, "owner": batch.workflow_id}
        api = batch.api
        values = outbox.batch_values(session, batch_id)
        if not values:
            outbox.complete(session, batch_id, import_status="EMPTY", ok=0, errors=0)
            return {"state": "complete", "api": api, "import_id": None}
        offer_of = _offer_skus(session)
    started = utcnow()  # Mirakl counts call frequency from the call, not from its answer
    try:
        import_id = _submit(runtime, api, values, offer_of)
    except RemoteError as error:
        with runtime.db.session() as session:
            outbox.mark_attempted(session, api)
            requeued = outbox.release(session, batch_id, str(error))
            exception_service.record(session, ExceptionReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"The {api} upload of {len(values)} SKUs to the marketplace failed; the values are queued "
                "again for the next window.",
                detail=str(error)[:2000], context={"batch_id": batch_id, "requeued": requeued}))
        log.warning("stock.upload_failed", api=api, batch_id=batch_id, error=str(error)[:200])
        return {"state": "failed", "api": api, "import_id": None}
    now = utcnow()
    with runtime.db.session() as session:
        outbox.mark_sent(session, batch_id, import_id, now, window_from=started)
        for kind, pushed, imp in ((Kind.STOCK, SkuState.stock_pushed_at, SkuState.stock_import_id),
                                  (Kind.PRICE, SkuState.price_pushed_at, SkuState.price_import_id)):
            column = "quantity" if kind is Kind.STOCK else "price"
            skus = [s for s, v in values.items() if column in v]
            for start in range(0, len(skus), outbox.CHUNK):
                session.execute(update(SkuState).where(SkuState.sku.in_(skus[start : start + outbox.CHUNK]))
                                .values({pushed: now, imp: import_id}))
    log.info("stock.uploaded", api=api, batch_id=batch_id, import_id=import_id, skus=len(values))
    return {"state": "sent", "api": api, "import_id": import_id}


def follow(runtime: Runtime, batch_id: int, owner: str | None = None) -> dict[str, Any]:
    """Wait for the import to finish, read its error report, write per-SKU results. Idempotent;
    only the batch's owner follows it."""
    owner = owner or outbox.batch_workflow_id(batch_id)
    with runtime.db.session() as session:
        batch = session.get(SyncBatch, batch_id)
        if batch is None or batch.state != "sent" or not batch.import_id or batch.workflow_id != owner:
            return {"state": None if batch is None else batch.state}
        api, import_id = batch.api, batch.import_id
        skus = sorted(outbox.batch_values(session, batch_id))
        offer_of = _offer_skus(session)
    magento_of = {offer_of[sku]: sku for sku in skus if sku in offer_of}
    mirakl = runtime.mirakl
    # Status APIs are rate limited too (PRI02 once a minute, STO02 every 15 s): asking at once
    # almost always answers WAITING and costs a whole interval. Give the import a moment first.
    time.sleep(min(FIRST_STATUS_DELAY_SECONDS, import_interval(runtime.settings) / 4))
    try:
        status = mirakl.wait_for_import(api, import_id, timeout=runtime.settings.stock_import_timeout_seconds)
        result = mirakl.import_result(api, import_id, [offer_of.get(sku, sku) for sku in skus], status)
    except RemoteError as error:
        # Reading the status failed (after the client's retries): put the values back; resending the
        # same values is harmless, losing them is not.
        with runtime.db.session() as session:
            outbox.release(session, batch_id, f"could not follow import {import_id}: {error}")
            exception_service.record(session, ExceptionReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"marketbridge could not read the result of {api} import {import_id}; the values are "
                "queued again.", detail=str(error)[:2000], context={"batch_id": batch_id}))
        return {"state": "failed"}
    if result.status not in ("COMPLETE", "SENT"):
        with runtime.db.session() as session:
            outbox.release(session, batch_id, f"import {import_id} {result.status}: {result.reason or ''}")
            exception_service.record(session, ExceptionReport(
                type=STOCK_IMPORT_FAILED, object_id=_connection_id(api),
                message=f"The marketplace reports {api} import {import_id} as {result.status}; the values are "
                "queued again for the next window.",
                detail=result.reason or "", context={"batch_id": batch_id}))
        return {"state": "failed", "status": result.status}
    failed = {magento_of.get(sku, sku): message for sku, message in result.failed_skus().items()}
    return record_results(runtime, batch_id, api, import_id, result.status, failed)


RESULT_SLICE = 5000
FIRST_STATUS_DELAY_SECONDS = 3.0


def _write_results(session: Session, rows: Sequence[outbox.InflightRow], failed: dict[str, str], batch_id: int,
                   import_id: str, now: dt.datetime) -> None:
    """Per-SKU state (published value, result, latency) and history for one slice of a batch.

    A SKU with a newer value already queued keeps its result ``pending``: this import carried an
    older change, so it does not make the SKU done (the published value is still recorded)."""
    existing = _existing_skus(session, [r.sku for r in rows])
    newer = outbox.pending_keys(session, [r.sku for r in rows])
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if row.sku not in existing:
            continue
        prefix = "stock" if row.kind is Kind.STOCK else "price"
        if row.sku in failed:
            mapping = {"sku": row.sku, f"{prefix}_result": "error", f"{prefix}_message": failed[row.sku][:2000],
                       f"{prefix}_completed_at": now, f"{prefix}_import_id": import_id}
        else:
            latency = (now - row.first_noticed_at).total_seconds() if row.first_noticed_at else None
            mapping = {"sku": row.sku, f"{prefix}_result": "ok", f"{prefix}_message": "",
                       f"{prefix}_completed_at": now, f"{prefix}_latency_seconds": latency,
                       f"{prefix}_import_id": import_id,
                       "published_qty" if row.kind is Kind.STOCK else "published_price":
                           int(row.value) if row.kind is Kind.STOCK else row.value}
        if (row.kind.value, row.sku) in newer:
            del mapping[f"{prefix}_result"]
        by_keys.setdefault(tuple(sorted(mapping)), []).append({f"b_{k}": v for k, v in mapping.items()})
    for keys, group in by_keys.items():  # Core executemany
        columns = [k for k in keys if k != "sku"]
        statement = (update(STATE_TABLE).where(STATE_TABLE.c.sku == bindparam("b_sku"))
                     .values({c: bindparam(f"b_{c}") for c in columns}))
        session.execute(statement, group)
    history = [
        {"batch_id": batch_id, "kind": r.kind.value, "sku": r.sku, "value": r.value,
         "result": "error" if r.sku in failed else "ok", "message": failed.get(r.sku, "")[:500],
         "first_noticed_at": r.first_noticed_at, "read_at": r.read_at, "completed_at": now}
        for r in rows
    ]
    if history:
        session.execute(insert(SkuPushLog.__table__), history)


def record_results(runtime: Runtime, batch_id: int, api: str, import_id: str, status: str,
                   failed: dict[str, str]) -> dict[str, Any]:
    now = utcnow()
    with runtime.db.session() as session:
        batch = session.get(SyncBatch, batch_id)
        if batch is None or batch.state != "sent":
            return {"state": None if batch is None else batch.state}
        rows = outbox.inflight_rows(session, batch_id)
        # Slices bound the memory of a 50,000-SKU import (dicts for state, history, parameters).
        for start in range(0, len(rows), RESULT_SLICE):
            _write_results(session, rows[start : start + RESULT_SLICE], failed, batch_id, import_id, now)
        failed_skus = set(failed)
        ok_skus = {r.sku for r in rows} - failed_skus
        active = _active_exception_ids(session, [SKU_UNKNOWN_ON_MARKETPLACE, STOCK_LINE_REJECTED], ok_skus)
        for sku, codes in active.items():
            for type_ in (SKU_UNKNOWN_ON_MARKETPLACE, STOCK_LINE_REJECTED):
                if type_.code in codes:
                    exception_service.clear(session, type_, sku)
        for sku in sorted(failed_skus & {r.sku for r in rows}):
            message = failed[sku]
            unknown = rules_domain.classify_line_error(message) == "unknown_offer"
            type_ = SKU_UNKNOWN_ON_MARKETPLACE if unknown else STOCK_LINE_REJECTED
            text = (f"The marketplace has no offer with SKU {sku}, so its stock/price could not be updated."
                    if unknown else f"The marketplace refused the stock/price line for SKU {sku}: {message}")
            exception_service.record(session, ExceptionReport(
                type=type_, object_id=sku, message=text, detail=f"{api} import {import_id}: {message}",
                context={"import_id": import_id, "api": api}))
        outbox.complete(session, batch_id, import_status=status, ok=len(ok_skus), errors=len(failed_skus), now=now)
        exception_service.clear(session, STOCK_IMPORT_FAILED, _connection_id(api))
    if len(rows) >= LARGE_PASS:
        release_free_memory()
    log.info("stock.import_done", api=api, import_id=import_id, ok=len(ok_skus), errors=len(failed_skus))
    return {"state": "complete", "ok": len(ok_skus), "errors": len(failed_skus)}


def release_stale(runtime: Runtime, batch_id: int, reason: str) -> int:
    with runtime.db.session() as session:
        return outbox.release(session, batch_id, reason)


def push_now(runtime: Runtime, *, max_windows: int = 1000, wait_window: bool = True) -> list[dict[str, Any]]:
    """Refresh hints and push every pending value in-process, window after window, until the
    outbox is empty (the CLI's ``--wait``; tests). Respects the once-a-minute window."""
    import os
    import uuid

    owner = f"cli-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    outcomes = []
    for _ in range(max_windows):
        refresh(runtime)
        ids = claim_all(runtime)
        for batch_id in ids:
            outcome = upload(runtime, batch_id, owner)
            if outcome.get("state") == "sent":
                outcome = {**outcome, **follow(runtime, batch_id, owner)}
            if outcome.get("owner") not in (None, owner):
                continue  # the running service is pushing this batch
            outcomes.append({"batch_id": batch_id, **outcome})
        with runtime.db.session() as session:
            left = outbox.pending_count(session) + outbox.inflight_count(session) + outbox.hint_count(session)
        if not left:
            return outcomes
        if not ids:
            if not wait_window:
                return outcomes
            time.sleep(min(1.0, import_interval(runtime.settings) / 4 or 0.05))
    return outcomes
