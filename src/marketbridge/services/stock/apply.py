"""Apply what a read learnt: store it per SKU, compute the values to publish, queue the changes.

Every path of the flow (webhook hint, poll, full resync, rule change) ends in :func:`apply_readings`,
which computes the values to publish with the pure :func:`marketbridge.domain.sku_stock.compute`
(on a :class:`~marketbridge.domain.sku_stock.SkuStock` built from the stored row) and writes the
outbox, so the same SKU in the same state always publishes the same value whichever way the change
was noticed.

The per-SKU state lives in ``sku_states``, read and written through SQLAlchemy Core as plain dicts
(the full resync handles 50,000 rows at once). Two sides write it: a read (this module) writes the
facts and targets; the push side (:mod:`.push`) writes the ``PUSH_COLUMNS`` (import ids, results,
published values). A read never writes the push side's columns, and a result column it leaves alone
travels as the marker ``KEEP`` (``"(keep)"``) in the upserted row. "Newer facts win": rows carry the
database-clock time their facts were read at (``read_at``), and an older read never overwrites a
newer one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import stock as stock_domain
from marketbridge.domain.issues import IssueReport, IssueType
from marketbridge.domain.sku_stock import SkuStock, compute
from marketbridge.domain.stock import (
    PRODUCT_UNREADABLE,
    Kind,
    Rule,
)
from marketbridge.services import issues as issue_service
from marketbridge.services.issues import ACTIVE_STATES
from marketbridge.services.stock import outbox, reading
from marketbridge.services.stock.rules import load_rules
from marketbridge.settings import OrderCreationMode, Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

APPLY_CHUNK = 2000
LARGE_PASS = 5000  # SKUs: after a pass this large, free heap pages go back to the system


def enabled_kinds(settings: Settings) -> set[Kind]:
    kinds = set()
    if settings.stock_sync_enabled:
        kinds.add(Kind.STOCK)
    if settings.price_sync_enabled:
        kinds.add(Kind.PRICE)
    return kinds


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


def _new_state(sku: str, columns: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(columns)
    row.update(sku=sku, enabled=True, type_id="simple", manage_stock=True, min_qty=0.0, attributes={},
               category_ids=[], reservations_suspected=False, stock_rule="", stock_result="", stock_message="",
               price_rule="", price_result="", price_message="")
    return row


READ_STATE_COLUMNS = ("sku", "type_id", "min_qty", "manage_stock", "reservations_suspected")  # what a read needs


def _load_states(session: Session, skus: Sequence[str], *, columns: Sequence[str] | None = None,
                 ) -> dict[str, dict[str, Any]]:
    """Per-SKU state rows as plain dicts (Core, not ORM: the full resync handles 50,000 at once);
    ``columns`` limits them to what the caller reads (a burst touches most of the catalogue)."""
    return outbox.store(session).load_states(skus, columns=columns)


def _existing_skus(session: Session, skus: Sequence[str]) -> set[str]:
    return outbox.store(session).existing_skus(skus)


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
    outbox.store(session).save_states(rows, skip_columns=PUSH_COLUMNS, keep_marker=KEEP,
                                      result_columns=list(results.values()))


def database_now(session: Session) -> dt.datetime:
    """The database's clock (PostgreSQL: ``clock_timestamp()``, the moment of the call, not the
    transaction's start), so workers on several hosts compare read times on one clock. SQLite is
    one host's file: that host's clock."""
    return outbox.store(session).database_now()


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
    outbox.store(session).lock_states_for_apply(skus)


def _active_issue_ids(session: Session, types: Iterable[IssueType], skus: Iterable[str]) -> dict[str, set[str]]:
    """``{sku: {type codes}}`` of active SKU issues, to clear only what exists (cheap in bulk)."""
    return outbox.store(session).active_issue_ids([t.code for t in types], ACTIVE_STATES, skus)


@dataclass
class ApplyResult:
    stock_enqueued: int = 0
    price_enqueued: int = 0
    unreadable: int = 0
    skus: int = 0
    # SKUs whose salable quantity or price in Adobe Commerce differs from the previous read (a SKU
    # read for the first time is not in it): a hook's change was visible to this read.
    moved: set[str] = field(default_factory=set)

    def add(self, other: ApplyResult) -> None:
        self.moved |= other.moved
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
    # Other flows' data through their query functions, never their tables (issue 18 item 2); the
    # catalogue's are in its storage adapter, as the catalogue flow writes no query itself.
    from marketbridge.adapters.db.catalogue import published_as_simple
    from marketbridge.adapters.db.orders import SqlOrdersRepository
    from marketbridge.services.orders.queries import units_sold_not_in_magento

    as_simple = published_as_simple(session)
    today = today or dt.datetime.now(dt.UTC).date()
    kinds = enabled_kinds(settings)
    now = utcnow()
    state_columns = outbox.store(session).state_columns()
    skus = [r.sku for r in readings]
    _lock_states(session, skus)
    # The outbox before the states: a result that lands in between has then cleared the in-flight
    # value *and* set the published one, so either read shows the value last sent, never an older one.
    stock_last = outbox.last_sent_values(session, Kind.STOCK, skus)
    price_last = outbox.last_sent_values(session, Kind.PRICE, skus)
    states = _load_states(session, skus)
    sold = units_sold_not_in_magento(
        SqlOrdersRepository(session), skus, until_shipped=settings.order_creation_mode is OrderCreationMode.DIRECT)
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
            state = _new_state(item.sku, state_columns)
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
        before = (state.get("magento_qty"), state.get("magento_price"))
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
        stock = SkuStock.of(state)
        qty, (price, price_rule) = compute(stock, rules, today, as_simple,
                                           unmanaged_default=settings.stock_unmanaged_default_quantity,
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
        base = stock_domain.magento_price(stock.price_facts(), today)
        state["magento_price"] = None if base is None else str(base)
        if before[0] is not None and before != (state["magento_qty"], state["magento_price"]):
            result.moved.add(item.sku)
        state["price_rule"] = price_rule
        if price is not None:
            text = stock_domain.format_price(price)
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
        issue_service.record(session, IssueReport(
            type=PRODUCT_UNREADABLE, object_id=sku,
            message=f"A stock or price change was noticed for {sku}, but {why.lower()}; nothing was sent for it.",
            detail=why))
    result.unreadable = len(unreadable)
    for sku in _active_issue_ids(session, [PRODUCT_UNREADABLE], readable):
        issue_service.clear(session, PRODUCT_UNREADABLE, sku)
    return result
