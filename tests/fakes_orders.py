"""In-memory fake for the orders flow's storage port (``marketbridge.ports.OrdersStore``), on the
same lines as tests/fakes_refunds.py: :class:`FakeOrdersStore` keeps order records
(``MarketplaceOrder`` with their ``OrderLine``) and the stock-wait issues in dicts, with a
:class:`~tests.fakes.FakeIssueLog` for the issues the flow raises and clears; the retention pass
(``run_retention``) is only counted. The writes of the modules that move the order record are
kept too: new orders (given an id at once, as the database's flush does), the transition history
(``transitions``), the OR11 cursor (``cursors``), the stock hints a transition notes (``stock``, a
:class:`~tests.fakes_catalogue.FakeStockRecords`), and which records were detached and how many
savepoints were opened. A unit of work hands out the stored records themselves (the flow's changes
are kept as a committed transaction would keep them) and counts itself in ``units``; it does not roll
back. ``failures`` are raised, one per unit of work, as it opens (None: that one opens normally; a
storage error ends a unit of work before any of its changes count): how a test makes the port report a concurrent change
(``OrderChangedUnderUs``), a concurrent insert (``OrderAlreadyRecorded``) or a busy database
(``StorageBusy``).

The fake answers the port's questions with plain Python over the records, written independently of
the SQL in ``adapters/db/orders.py``, so a test on it checks the flow's rules, not the query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
from marketbridge.ports.orders import IssueOnOrder, OpenLine, StockWait, WorkflowCandidate
from marketbridge.settings import Settings
from tests.fakes import FakeIssueLog, FakeRepository
from tests.fakes_catalogue import FakeStockRecords
from tests.fakes_refunds import FakeSkuLinks

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def new_order(order_id: str, *, state: str = "received", marketplace_state: str = "WAITING_ACCEPTANCE",
              connection: str = "johnlewis", lines: Sequence[dict[str, Any]] = (), **values: Any) -> MarketplaceOrder:
    """An order record with every column set, as the database would fill the defaults; ``lines``
    by column (``offer_sku``, ``magento_sku``, ``quantity``, ``accepted``, ``marketplace_state``)."""
    order = MarketplaceOrder(
        id=None, connection=connection, order_id=order_id, commercial_id=None, state=state, state_changed_at=NOW,
        marketplace_state=marketplace_state, marketplace_updated_at=NOW, marketplace_created_at=NOW,
        customer_debited_at=None, acceptance_deadline=None, currency="GBP", subtotal=Decimal("10.00"),
        shipping_price=Decimal("0.00"), total_price=Decimal("10.00"), raw={}, decision={}, reason="",
        customer_name="Ann Example", shipping_address={"street_1": "1 High Street"}, personal_data_purged_at=None,
        magento_entity_id=None, magento_increment_id=None, magento_totals={}, create_attempt=0, reminded_at=None,
        received_at=NOW, updated_at=NOW)
    for key, value in values.items():
        setattr(order, key, value)
    for position, line in enumerate(lines):
        columns: dict[str, Any] = {"order_line_id": f"{order_id}-{position + 1}", "offer_sku": "LAMP-1",
                                   "magento_sku": None, "quantity": 1, "accepted": None,
                                   "marketplace_state": marketplace_state, "reasons": [], "unit_price": Decimal("10.00"),
                                   "price": Decimal("10.00"), "shipping_price": Decimal("0.00"), **line}
        order.lines.append(OrderLine(position=position, **columns))
    return order


@dataclass
class FakeIssue:
    """An issue record as the stock-wait questions see it."""

    type: str
    order_id: str
    state: str = "open"
    attempt: int = 0
    last_seen: dt.datetime = NOW


@dataclass
class FakeOrdersStore:
    orders: dict[str, MarketplaceOrder] = field(default_factory=dict)
    waits: dict[int, FakeIssue] = field(default_factory=dict)  # the stock waits, by issue id
    issues: FakeIssueLog = field(default_factory=FakeIssueLog)  # what the flow raises and clears
    retention_passes: list[dt.datetime] = field(default_factory=list)
    units: int = 0
    skus: FakeSkuLinks = field(default_factory=FakeSkuLinks)
    stock: FakeStockRecords = field(default_factory=FakeStockRecords)
    transitions: list[dict[str, Any]] = field(default_factory=list)  # order_transitions, in order
    cursors: dict[str, str] = field(default_factory=dict)
    detached: list[str] = field(default_factory=list)  # order ids
    savepoints: int = 0
    flushes: int = 0
    failures: list[Exception | None] = field(default_factory=list)  # one per unit of work, as it opens

    def add(self, order_id: str, **values: Any) -> MarketplaceOrder:
        order = new_order(order_id, **values)
        order.id = len(self.orders) + 1
        self.orders[order_id] = order
        return order

    def add_issue(self, type_: str, order_id: str, **values: Any) -> int:
        issue_id = len(self.waits) + 1
        self.waits[issue_id] = FakeIssue(type_, order_id, **values)
        return issue_id

    def transitions_of(self, order_id: str) -> list[tuple[str | None, str, str]]:
        """(from, to, actor) of an order's transition history."""
        pk = self.orders[order_id].id
        return [(t["from_state"], t["to_state"], t["actor"]) for t in self.transitions if t["order_pk"] == pk]

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeOrdersRepository]:
        self.units += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        yield FakeOrdersRepository(self)


def _newest_first(rows: list[MarketplaceOrder]) -> list[MarketplaceOrder]:
    return sorted(rows, key=lambda o: (o.marketplace_created_at, o.id), reverse=True)


class FakeOrdersRepository(FakeRepository):
    store: FakeOrdersStore

    @property
    def skus(self) -> FakeSkuLinks:
        return self.store.skus

    @property
    def stock(self) -> FakeStockRecords:
        return self.store.stock

    def add_order(self, order: MarketplaceOrder) -> None:
        assert order.order_id not in self.store.orders, "the unique order id refuses a second insert"
        order.id = len(self.store.orders) + 1
        self.store.orders[order.order_id] = order

    def add_transition(self, order: MarketplaceOrder, *, from_state: str | None, to_state: str, at: dt.datetime,
                       actor: str, facts: dict[str, Any]) -> None:
        self.store.transitions.append({"order_pk": order.id, "from_state": from_state, "to_state": to_state,
                                       "at": at, "actor": actor, "facts": facts})

    def flush(self) -> None:
        self.store.flushes += 1

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.store.savepoints += 1
        yield

    def detach(self, order: MarketplaceOrder) -> None:
        self.store.detached.append(order.order_id)

    def cursor(self, name: str) -> str | None:
        return self.store.cursors.get(name)

    def move_cursor(self, name: str, value: str) -> None:
        self.store.cursors[name] = value

    def run_retention(self, settings: Settings, now: dt.datetime) -> dict[str, int]:
        self.store.retention_passes.append(now)
        return {"purged": 0}

    def active_issues_on_orders(self, type_code: str, active_states: Sequence[str], *,
                                limit: int = 500) -> list[IssueOnOrder]:
        return [IssueOnOrder(oid, str(entry.report.context["state"]) if "state" in entry.report.context else None)
                for (code, oid), entry in self.store.issues.entries.items()
                if code == type_code and entry.state == "open"][:limit]

    def _all(self) -> list[MarketplaceOrder]:
        return list(self.store.orders.values())

    def order(self, order_id: str, connection: str | None = None) -> MarketplaceOrder | None:
        order = self.store.orders.get(order_id)
        return order if order is not None and connection in (None, order.connection) else None

    def list_orders(self, connection: str, *, state: str | None, limit: int, offset: int) -> list[MarketplaceOrder]:
        rows = [o for o in self._all() if o.connection == connection and (not state or o.state == state)]
        return _newest_first(rows)[offset:offset + limit]

    def counts_by_state(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for order in self._all():
            counts[order.state] = counts.get(order.state, 0) + 1
        return list(counts.items())

    def by_acceptance_deadline(self, states: Sequence[str], *, limit: int) -> list[MarketplaceOrder]:
        rows = [o for o in self._all() if o.state in states]
        rows.sort(key=lambda o: (o.acceptance_deadline is None, o.acceptance_deadline or NOW))
        return rows[:limit]

    def search(self, *, state: str | None, q: str | None, limit: int) -> list[MarketplaceOrder]:
        rows = [o for o in self._all() if (not state or o.state == state)
                and (not q or q in o.order_id or q in (o.magento_increment_id or ""))]
        return _newest_first(rows)[:limit]

    def in_states(self, states: Sequence[str], *, limit: int | None) -> list[MarketplaceOrder]:
        return [o for o in self._all() if o.state in states][:limit]

    def workflow_candidates(self, connection: str, pairs: Sequence[tuple[str, str]], *,
                            limit: int) -> list[WorkflowCandidate]:
        rows = sorted((o for o in self._all() if o.connection == connection
                       and (o.state, o.marketplace_state) in set(pairs)), key=lambda o: o.id)
        return [WorkflowCandidate(o.order_id, o.state, o.marketplace_state, o.create_attempt, bool(o.shipping_address))
                for o in rows[:limit]]

    def stock_waits_due(self, type_code: str, active_states: Sequence[str], cutoff: dt.datetime) -> list[StockWait]:
        return [StockWait(issue_id, issue.order_id, issue.attempt) for issue_id, issue in self.store.waits.items()
                if issue.type == type_code and issue.state in active_states and issue.last_seen <= cutoff]

    def touch_issue(self, issue_id: int, at: dt.datetime) -> None:
        self.store.waits[issue_id].last_seen = at

    def lines_in_states(self, connection: str, states: Sequence[str]) -> list[OpenLine]:
        return [OpenLine(o.order_id, line.magento_sku, float(line.quantity), line.accepted)
                for o in self._all() if o.connection == connection and o.state in states
                for line in o.lines if line.magento_sku is not None]

    def units_in_states(self, skus: Sequence[str], states: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for order in self._all():
            if order.state not in states:
                continue
            for line in order.lines:
                if (line.magento_sku in skus and line.accepted is not False
                        and line.marketplace_state not in ("REFUSED", "CANCELED")):
                    out[line.magento_sku] = out.get(line.magento_sku, 0.0) + float(line.quantity)
        return {sku: units for sku, units in out.items() if units}

    def due_for_purge(self, cutoff: dt.datetime, *, batch: int) -> list[MarketplaceOrder]:
        rows = [o for o in self._all() if o.personal_data_purged_at is None and o.received_at < cutoff]
        return sorted(rows, key=lambda o: o.id)[:batch]
