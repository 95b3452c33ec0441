"""The orders flow's storage port (implemented in :mod:`marketbridge.adapters.db.orders`).

Issue 18 item 2 for the orders flow: what the flow's reading modules (``views``, ``todo``,
``queries``, ``skus``) ask of ``marketplace_orders`` / ``order_lines`` and of the issue records they
watch, housekeeping (``upkeep``), and the writes of the modules that move the order record
(``record``, ``pulling``, ``decisions``, ``creation``, ``cancellation``): new orders, transitions,
the OR11 cursor, savepoints.

The storage errors those modules act on are the port's own exceptions (:class:`OrderChangedUnderUs`,
:class:`OrderAlreadyRecorded`, :class:`StorageBusy`), raised by the adapter's unit of work, so the
exactly-once path decides on them without importing SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.ports.shared import IssueLog, SkuLinks, StockRecords

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.orders import MarketplaceOrder
    from marketbridge.settings import Settings


class OrderChangedUnderUs(Exception):
    """A concurrent unit of work changed the same order record first (its version moved on): the
    change made here is rolled back. Read the record again and decide from what it says now; never
    write over the other change (that lost the poll's transitions once)."""


class OrderAlreadyRecorded(Exception):
    """A concurrent unit of work stored the same new order first (the unique order id refused the
    second insert): rolled back. Storing it again finds it and updates it instead."""


class StorageBusy(Exception):
    """The database refused for a moment (SQLite's "database is locked", a dropped PostgreSQL
    connection): as transient as a remote 503. ``locked`` says it was a lock (worth a short wait and
    another try at once); ``detail`` is the database's own message."""

    def __init__(self, detail: str, *, locked: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.locked = locked


@dataclass
class StoredOrders:
    """What ``services.orders.pulling.store_read_orders`` did with one page of OR11 orders: ``new``
    and ``updated`` records, ``duplicates`` (nothing newer than our record), and the ids that could
    not be stored (``failed``, with the oldest ``last_updated_date`` among them, before which a
    reader must hold its cursor so the next read brings them again)."""

    new: int = 0
    updated: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    newest_ok: dt.datetime | None = None
    oldest_failed: dt.datetime | None = None

    @property
    def changed(self) -> int:
        return self.new + self.updated


@dataclass(frozen=True)
class WorkflowCandidate:
    """An order whose (state, marketplace state) pair may call for a per-order workflow: the
    columns :func:`marketbridge.services.orders.todo.pending_actions` decides on, read without
    loading the record (the poll runs this every minute over every open order)."""

    order_id: str
    state: str
    marketplace_state: str
    create_attempt: int
    has_address: bool


@dataclass(frozen=True)
class StockWait:
    """An active ``order_waiting_for_stock`` issue: which order, and which creation attempt
    recorded it last (``attempt`` in the issue's context; 0 when absent)."""

    issue_id: int
    order_id: str
    attempt: int


@dataclass(frozen=True)
class IssueOnOrder:
    """An active issue about an order, with the order state it was raised in (``state`` in the
    issue's context; None when absent): housekeeping clears it once the order has moved on."""

    order_id: str
    state: str | None


@dataclass(frozen=True)
class OpenLine:
    """A line of an order not yet in Adobe Commerce that names a Magento SKU: what it may still take
    from that SKU's stock (``accepted`` False: refused by us, takes nothing)."""

    order_id: str
    magento_sku: str
    quantity: float
    accepted: bool | None


class OrdersRepository(Protocol):
    """What the orders flow's reading modules ask in one unit of work. Records handed out are the
    flow's own ``MarketplaceOrder`` rows, changed in place; the unit of work keeps the changes."""

    @property
    def issues(self) -> IssueLog:
        """The issue records the flow raises and clears, in this unit of work."""
        ...

    @property
    def skus(self) -> SkuLinks:
        """The person-confirmed SKU links, read in this unit of work."""
        ...

    @property
    def stock(self) -> StockRecords:
        """The stock flow's rules and hints, in this unit of work (a transition's re-publish hint
        commits with the transition)."""
        ...

    def add_order(self, order: MarketplaceOrder) -> None:
        """Store a new order record now (it gets its id; a concurrent insert of the same order
        surfaces as :class:`OrderAlreadyRecorded` when the unit of work ends)."""
        ...

    def add_transition(self, order: MarketplaceOrder, *, from_state: str | None, to_state: str, at: dt.datetime,
                       actor: str, facts: dict[str, Any]) -> None:
        """A row of the order's transition history (``order_transitions``)."""
        ...

    def flush(self) -> None:
        """Write the changes made so far now, inside the unit of work (new lines get their ids,
        and the stock hints written next see them); nothing is committed."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit of work: an error raised in the block undoes only the block's changes."""
        ...

    def detach(self, order: MarketplaceOrder) -> None:
        """Keep ``order`` (and its loaded lines) readable after the unit of work ends, with no tie
        to it: nothing done to it later is written."""
        ...

    def cursor(self, name: str) -> str | None:
        """The stored value of a stream cursor (``stream_cursors``), None when never moved."""
        ...

    def move_cursor(self, name: str, value: str) -> None:
        """Store ``value`` as the cursor (the caller keeps it from going backwards)."""
        ...

    def run_retention(self, settings: Settings, now: dt.datetime) -> dict[str, int]:
        """One pass of every personal-data retention rule (``services/personal_data.py``) in this
        unit of work; how many records each rule changed, by rule."""
        ...

    def active_issues_on_orders(self, type_code: str, active_states: Sequence[str], *,
                                limit: int = 500) -> list[IssueOnOrder]:
        """Active issues of ``type_code`` (one page, last seen first), with the state they were raised in."""
        ...

    def order(self, order_id: str, connection: str | None = None) -> MarketplaceOrder | None:
        """The record (with its lines loaded), of ``connection`` when given."""
        ...

    def list_orders(self, connection: str, *, state: str | None, limit: int, offset: int) -> Sequence[MarketplaceOrder]:
        """Newest marketplace creation date first, lines loaded."""
        ...

    def counts_by_state(self) -> list[tuple[str, int]]:
        """Orders per state (only the states present), in no particular order."""
        ...

    def by_acceptance_deadline(self, states: Sequence[str], *, limit: int) -> Sequence[MarketplaceOrder]:
        """Orders in ``states``, the nearest acceptance deadline first, those without one last."""
        ...

    def search(self, *, state: str | None, q: str | None, limit: int) -> Sequence[MarketplaceOrder]:
        """Newest first; ``q`` is a literal part of the order id or the Adobe Commerce increment id."""
        ...

    def in_states(self, states: Sequence[str], *, limit: int | None) -> Sequence[MarketplaceOrder]:
        """Up to ``limit`` (None: all) orders in ``states``, in no particular order."""
        ...

    def workflow_candidates(self, connection: str, pairs: Sequence[tuple[str, str]], *,
                            limit: int) -> list[WorkflowCandidate]:
        """Orders of ``connection`` whose (state, marketplace state) is one of ``pairs``, oldest first."""
        ...

    def stock_waits_due(self, type_code: str, active_states: Sequence[str], cutoff: dt.datetime) -> list[StockWait]:
        """Issues of ``type_code`` in ``active_states`` last seen at or before ``cutoff``."""
        ...

    def touch_issue(self, issue_id: int, at: dt.datetime) -> None:
        """Move an issue's ``last_seen`` (it is being acted on; not due again before the next cutoff)."""
        ...

    def lines_in_states(self, connection: str, states: Sequence[str]) -> list[OpenLine]:
        """The lines with a Magento SKU of ``connection``'s orders in ``states``."""
        ...

    def units_in_states(self, skus: Sequence[str], states: Sequence[str]) -> dict[str, float]:
        """Per Magento SKU of ``skus``, the units of lines of orders in ``states`` that are not
        refused (by us or the marketplace) nor cancelled; SKUs with none are left out."""
        ...

    def due_for_purge(self, cutoff: dt.datetime, *, batch: int) -> Sequence[MarketplaceOrder]:
        """Up to ``batch`` orders received before ``cutoff`` whose personal data is still there, oldest first."""
        ...


class OrdersStore(Protocol):
    """The orders flow's storage: each :meth:`unit_of_work` is one transaction, committed when the
    block ends normally and rolled back when it raises. A storage error (in the block or at the
    commit) comes out as :class:`OrderChangedUnderUs`, :class:`OrderAlreadyRecorded` or
    :class:`StorageBusy`."""

    def unit_of_work(self) -> AbstractContextManager[OrdersRepository]: ...
