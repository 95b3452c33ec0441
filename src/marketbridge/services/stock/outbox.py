"""The durable outbox of the stock and price flow.

Three small state machines, all in our database so that a kill -9 loses nothing:

* **hints** (``stock_hints``): "re-read this SKU in Adobe Commerce". Written by the webhook
  handler, the poll and the full resync, merged per SKU (flags OR-ed, earliest notice kept).
  Every notice gives the hint a fresh random ``token``; a refresh deletes only the hints whose
  token is still the one it took (:func:`delete_hints`), so a notice that lands while the SKU is
  being read, queued or pushed is read again by the next pass. Tokens, not times: a worker's
  clock (or a transaction that commits late) cannot make a newer notice look older.
* **outbox** (``sync_outbox``): per (kind, SKU) the newest value to publish (``pending``) and the
  value carried by the batch in flight (``inflight``). Newest wins; a change made while a value is
  in flight waits in ``pending`` for the next window.
* **lanes and batches**: one lane per import API holds at most one batch in flight and the time of
  the last upload. :func:`claim` takes *all* pending rows of the lane's kinds into a new batch;
  :func:`complete` writes per-SKU results; :func:`release` puts a failed batch's values back
  into ``pending`` (unless a newer value is already there), so a failed push is retried, never lost.

Claiming is safe between threads and processes: the lane is taken with a conditional UPDATE
(``active_batch_id IS NULL``) whose row count says who won.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.store import OrSession, on_repository
from marketbridge.domain.stock import Kind
from marketbridge.ports.stock import StockRepository

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.stock import SyncBatch

#: What the functions below act on: the stock port (the SQL repository, or a test's in-memory fake),
#: or the caller's bare session (its transaction), still what most of the flow hands in (the issue
#: log, the SKU links and the webhook dispatcher take it too), which :func:`store` wraps in the port.
Stock = OrSession[StockRepository]


def store(target: Stock) -> StockRepository:
    """The stock port to act on: ``target`` itself when it already is one, else the SQL repository
    on the caller's session (same transaction): the one place the services build it (issue 18
    item 2), the way ``apply`` already reads the orders flow through ``SqlOrdersRepository(session)``."""
    from marketbridge.adapters.db.stock import SqlStockRepository

    return on_repository(target, SqlStockRepository)


def note_hints(
    session: Stock,
    skus: Iterable[str],
    *,
    stock: bool = True,
    price: bool = False,
    details: bool = False,
    exact: bool = False,
    force: bool = False,
    reason: str = "",
    noticed_at: dt.datetime | None = None,
) -> int:
    """Record that these SKUs may have changed. Idempotent; flags accumulate until refreshed.

    Rows are written in SKU order, as every writer of hints does (and :func:`delete_hints`): two
    transactions that lock the same hint rows in different orders deadlock on PostgreSQL, and the
    catch-up at start was once the victim (its changes made while the worker was down were lost).
    A transaction that notes several groups must use :func:`note_hint_groups` (one sorted write)."""
    group = HintGroup(tuple(skus), stock=stock, price=price, details=details, exact=exact, force=force,
                      reason=reason)
    return note_hint_groups(session, [group], noticed_at=noticed_at)


@dataclass(frozen=True)
class HintGroup:
    """SKUs to hint with the same flags and reason (see :func:`note_hint_groups`)."""

    skus: tuple[str, ...]
    stock: bool = True
    price: bool = False
    details: bool = False
    exact: bool = False
    force: bool = False
    reason: str = ""


_FLAGS = ("stock", "price", "details", "exact", "force")


def note_hint_groups(session: Stock, groups: Sequence[HintGroup], *, noticed_at: dt.datetime | None = None) -> int:
    """Several groups of hints in one write, every row in SKU order; a SKU in several groups gets
    their flags together and the first group's reason.

    Why one write: three writes of sorted groups (the poll's source items, orders and products)
    still lock rows out of SKU order across the groups, and the scale-out soak's catch-up and a
    refresh pass deadlocked on ``stock_hints`` that way (the pass, or the catch-up, was the victim)."""
    repo = store(session)
    now = noticed_at or utcnow()
    token = uuid.uuid4().hex
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        for sku in group.skus:
            if not sku or len(sku) > repo.hint_sku_max:
                continue
            row = merged.get(sku)
            if row is None:
                merged[sku] = {"sku": sku, **{flag: getattr(group, flag) for flag in _FLAGS},
                               "first_noticed_at": now, "touched_at": now, "reason": group.reason[:64],
                               "token": token}
            else:
                for flag in _FLAGS:
                    row[flag] = row[flag] or getattr(group, flag)
    rows = [merged[sku] for sku in sorted(merged)]
    if not rows:
        return 0
    repo.upsert_hints(rows)
    return len(rows)


@dataclass(frozen=True)
class Change:
    kind: Kind
    sku: str
    value: str
    first_noticed_at: dt.datetime


def enqueue(session: Stock, changes: Sequence[Change], *, read_at: dt.datetime | None = None) -> int:
    """Write values to publish; newest wins, the earliest unsent notice time is kept.

    ``pending_noticed_at`` records ``read_at``: when Adobe Commerce was read for these values
    (they include every change made before it)."""
    if not changes:
        return 0
    now = read_at or utcnow()
    rows = [
        {"kind": c.kind.value, "sku": c.sku, "pending_value": c.value, "pending_noticed_at": now,
         "pending_first_noticed_at": c.first_noticed_at}
        for c in changes
    ]
    store(session).upsert_outbox(rows)
    return len(rows)


def last_sent_values(session: Stock, kind: Kind, skus: Sequence[str]) -> dict[str, str | None]:
    """Per SKU, the value most recently handed to the marketplace or waiting to be: pending, else
    in flight. SKUs without an outbox row are absent (compare with the published value then)."""
    return store(session).last_sent_values(kind.value, skus)


def pending_keys(session: Stock, skus: Sequence[str]) -> set[tuple[str, str]]:
    """``{(kind, sku)}`` of these SKUs with a value waiting for the next window."""
    return store(session).pending_keys(skus)


def pending_count(session: Stock, kinds: Iterable[Kind] | None = None) -> int:
    return store(session).pending_count(None if kinds is None else [k.value for k in kinds])


def inflight_count(session: Stock) -> int:
    return store(session).inflight_count()


def batch_workflow_id(batch_id: int) -> str:
    return f"stock-push-{batch_id}"


def claim(session: Stock, api: str, kinds: Sequence[Kind], *, interval_seconds: float,
          now: dt.datetime | None = None) -> int | None:
    """The batch this lane should be working on: the one in flight, or a new one holding every
    pending row of ``kinds`` when the last upload is at least ``interval_seconds`` old.

    Returns ``None`` when there is nothing to do now. The caller (re)starts the batch's workflow
    under :func:`batch_workflow_id`, which is idempotent, so a crash between claiming and starting
    is repaired by the next tick.
    """
    now = now or utcnow()
    repo = store(session)
    lane = repo.lane(api)
    if lane.active_batch_id is not None:
        return lane.active_batch_id
    if lane.last_sent_at is not None and (now - lane.last_sent_at).total_seconds() < interval_seconds:
        return None
    kind_values = [k.value for k in kinds]
    if not repo.has_claimable(kind_values):
        return None
    batch = repo.add_batch(api, ",".join(kind_values), now)
    batch.workflow_id = batch_workflow_id(batch.id)
    won = repo.take_lane(api, batch.id)
    if won != 1:
        repo.rollback()
        return None
    moved = repo.move_pending_into_batch(kind_values, batch.id)
    batch.sku_count = moved
    return batch.id


def batch_values(session: Stock, batch_id: int) -> dict[str, dict[str, str]]:
    """``{sku: {"quantity": "12", "price": "19.99"}}`` for the rows carried by a batch."""
    out: dict[str, dict[str, str]] = {}
    column = {Kind.STOCK.value: "quantity", Kind.PRICE.value: "price"}
    for kind, sku, value in store(session).batch_rows(batch_id):
        # :func:`claim` sets inflight_batch_id and inflight_value together, from a pending_value that
        # is not NULL, and :meth:`~marketbridge.ports.stock.StockOutboxRepository.clear_inflight` clears both: a row of a batch carries a value.
        out.setdefault(sku, {})[column[kind]] = cast(str, value)
    return out


def mark_sent(session: Stock, batch_id: int, import_id: str, now: dt.datetime | None = None, *,
              window_from: dt.datetime | None = None) -> None:
    """The upload was accepted. The lane's next window counts from ``window_from`` (when the call
    started: Mirakl's frequency limit is per call), so a slow upload of a large file does not push
    the next import back by its own duration."""
    now = now or utcnow()
    repo = store(session)
    batch = repo.batch(batch_id)
    assert batch is not None
    batch.import_id = import_id
    batch.state = "sent"
    batch.sent_at = now
    repo.lane_sent_at(batch.api, window_from or now)


def mark_attempted(session: Stock, api: str, now: dt.datetime | None = None) -> None:
    """An upload that failed still counts against the once-a-minute budget."""
    store(session).lane_sent_at(api, now or utcnow())


@dataclass(frozen=True)
class InflightRow:
    kind: Kind
    sku: str
    value: str
    first_noticed_at: dt.datetime | None
    read_at: dt.datetime | None = None


def inflight_rows(session: Stock, batch_id: int) -> list[InflightRow]:
    return [
        # not NULL in a batch's rows: see batch_values
        InflightRow(Kind(kind), sku, cast(str, value), noticed, read_at)
        for kind, sku, value, noticed, read_at in store(session).inflight_rows(batch_id)
    ]


def complete(session: Stock, batch_id: int, *, import_status: str, ok: int, errors: int,
             now: dt.datetime | None = None) -> None:
    """Close a processed batch (per-SKU results already written by the caller)."""
    repo = store(session)
    batch = repo.batch(batch_id)
    assert batch is not None
    repo.clear_inflight(batch_id)
    batch.state = "complete"
    batch.import_status = import_status
    batch.ok_count = ok
    batch.error_count = errors
    batch.completed_at = now or utcnow()
    repo.free_lane(batch)


def release(session: Stock, batch_id: int, error: str, now: dt.datetime | None = None) -> int:
    """A batch failed as a whole: give its values back to ``pending`` (unless a newer value is
    already pending: newest wins) and free the lane. Returns the number of values requeued."""
    repo = store(session)
    batch = repo.batch(batch_id)
    if batch is None or batch.state in ("complete", "failed"):
        return 0
    requeued = repo.requeue_inflight(batch_id)
    repo.clear_inflight(batch_id)
    batch.state = "failed"
    batch.error = error[:4000]
    batch.completed_at = now or utcnow()
    repo.free_lane(batch)
    return requeued


def active_batches(session: Stock) -> list[SyncBatch]:
    return store(session).active_batches()


def delete_hints(session: Stock, taken: Iterable[Any]) -> int:
    """Forget the hints a refresh has read (rows of :func:`take_hints`), each only if its token is
    still the one taken: a hint noticed again since (during the read, the queueing or the push)
    keeps its new token and is read by the next pass. Returns the number deleted."""
    rows = sorted(({"sku_": h.sku, "token_": h.token} for h in taken), key=lambda row: row["sku_"])  # lock order
    if not rows:
        return 0
    return store(session).delete_hints(rows)


def take_hints(session: Stock, limit: int, *, exclude: Set[str] = frozenset(),
               recheck_seconds: float = 0.0) -> list[Any]:
    """The oldest hints as light rows (attribute access like the model; a burst takes ~50,000),
    leaving out the SKUs in ``exclude`` (those another pass of this process is reading) and the
    second reads (:data:`RECHECK`) noted less than ``recheck_seconds`` ago."""
    held = (RECHECK, utcnow() - dt.timedelta(seconds=recheck_seconds)) if recheck_seconds > 0 else None
    return store(session).take_hints(limit, exclude=exclude, held=held)


#: A hint for a product known only by its Adobe Commerce id (a legacy stock item event carries
#: ``product_id`` and no SKU): ``"#product-id:42"``. The refresh turns it into the SKU's hint.
PRODUCT_ID_HINT = "#product-id:"


#: The reason of a second read of a SKU a webhook hinted before Adobe Commerce had committed.
RECHECK = "recheck"
#: Passes larger than this are bursts (a poll, a resync), not a few webhooks: no second reads.
RECHECK_MAX_SKUS = 500


def may_precede_commit(reason: str) -> bool:
    """A hint from a hook that Adobe Commerce may call before its transaction commits: a *plugin*
    hook (it runs inside the caller's transaction, a *before* hook even ahead of the write) or an
    observer other than ``*_commit_after`` (``AbstractDb::save`` dispatches ``*_save_after``
    before ``commit()``; an order's ``sales_order_place_after`` runs inside the quote submit's
    transaction). Only ``*_commit_after`` comes after. A read made at once can see the old value."""
    if reason.startswith("plugin."):
        return True
    return reason.startswith("observer.") and reason.endswith("_after") and not reason.endswith("_commit_after")


def note_rechecks(session: Stock, taken: Sequence[Any], unchanged: Set[str]) -> int:
    """After a pass: read once more, later, the SKUs hinted by a hook that may precede the commit
    and read unchanged (``unchanged``: Adobe Commerce's values equal the previous read's, or this
    was the first read), whose hint this pass has deleted (one noticed again meanwhile stays as it
    is: it is read by the next pass anyway). The second read is due ``webhook_recheck_seconds``
    later (:func:`take_hints`): by then Adobe Commerce has committed what its hook announced."""
    if len(taken) > RECHECK_MAX_SKUS:
        return 0
    repo = store(session)
    again = [h for h in taken if h.sku in unchanged and may_precede_commit(h.reason or "")]
    again = [h for h in again if repo.hint(h.sku) is None]
    groups = [HintGroup((h.sku,), stock=True, price=bool(h.price), details=bool(h.details), exact=bool(h.exact),
                        reason=RECHECK) for h in again]
    return note_hint_groups(session, groups) if groups else 0


def hint_count(session: Stock) -> int:
    return store(session).hint_count()


def as_mapping(rows: Iterable[InflightRow]) -> Mapping[tuple[str, str], InflightRow]:
    return {(r.kind.value, r.sku): r for r in rows}
