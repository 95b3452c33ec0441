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
from typing import Any, cast

from sqlalchemy import CursorResult, String, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.stock import StockHint, SyncBatch, SyncLane, SyncOutbox
from marketbridge.domain.stock import Kind

CHUNK = 500
# Longest SKU a hint can hold (the column's length). Adobe Commerce caps SKUs at 64 characters, so
# a longer one in a webhook names no product; PostgreSQL would refuse the whole insert for it.
# SQLAlchemy types a column's ``type`` as any TypeEngine, and a String's length as optional; this
# column is declared String(128), so both casts only say what the model declares.
HINT_SKU_MAX = cast(int, cast(String, StockHint.__table__.c.sku.type).length)
# A declarative model with ``__tablename__`` is mapped to a Table; SQLAlchemy types ``__table__`` as
# any FromClause (a model may be mapped to a join or a select), which delete() does not accept.
HINT_TABLE = cast(Table, StockHint.__table__)


def _insert(session: Session, model: type) -> object:
    """A dialect INSERT (for ON CONFLICT) on the model's *table*: Core executemany, not the ORM's
    per-row bulk path, which is several times slower for tens of thousands of rows."""
    return dialect_insert(session, model)


def note_hints(
    session: Session,
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


def note_hint_groups(session: Session, groups: Sequence[HintGroup], *, noticed_at: dt.datetime | None = None) -> int:
    """Several groups of hints in one write, every row in SKU order; a SKU in several groups gets
    their flags together and the first group's reason.

    Why one write: three writes of sorted groups (the poll's source items, orders and products)
    still lock rows out of SKU order across the groups, and the scale-out soak's catch-up and a
    refresh pass deadlocked on ``stock_hints`` that way (the pass, or the catch-up, was the victim)."""
    now = noticed_at or utcnow()
    token = uuid.uuid4().hex
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        for sku in group.skus:
            if not sku or len(sku) > HINT_SKU_MAX:
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
    stmt = _insert(session, StockHint)
    ex = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["sku"],
        set_={
            "stock": StockHint.stock | ex.stock,
            "price": StockHint.price | ex.price,
            "details": StockHint.details | ex.details,
            "exact": StockHint.exact | ex.exact,
            "force": StockHint.force | ex.force,
            "touched_at": ex.touched_at,
            "reason": ex.reason,
            "token": ex.token,
        },
    )
    for start in range(0, len(rows), CHUNK * 4):
        session.execute(stmt, rows[start : start + CHUNK * 4])
    return len(rows)


@dataclass(frozen=True)
class Change:
    kind: Kind
    sku: str
    value: str
    first_noticed_at: dt.datetime


def enqueue(session: Session, changes: Sequence[Change], *, read_at: dt.datetime | None = None) -> int:
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
    stmt = _insert(session, SyncOutbox)
    ex = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["kind", "sku"],
        set_={
            "pending_value": ex.pending_value,
            "pending_noticed_at": ex.pending_noticed_at,
            "pending_first_noticed_at": func.coalesce(SyncOutbox.pending_first_noticed_at,
                                                      ex.pending_first_noticed_at),
        },
    )
    for start in range(0, len(rows), CHUNK * 4):
        session.execute(stmt, rows[start : start + CHUNK * 4])
    return len(rows)


def last_sent_values(session: Session, kind: Kind, skus: Sequence[str]) -> dict[str, str | None]:
    """Per SKU, the value most recently handed to the marketplace or waiting to be: pending, else
    in flight. SKUs without an outbox row are absent (compare with the published value then)."""
    out: dict[str, str | None] = {}
    for start in range(0, len(skus), CHUNK):
        part = skus[start : start + CHUNK]
        for sku, pending, inflight in session.execute(
            select(SyncOutbox.sku, SyncOutbox.pending_value, SyncOutbox.inflight_value).where(
                SyncOutbox.kind == kind.value, SyncOutbox.sku.in_(part)
            )
        ):
            if pending is not None:
                out[sku] = pending
            elif inflight is not None:
                out[sku] = inflight
    return out


def pending_keys(session: Session, skus: Sequence[str]) -> set[tuple[str, str]]:
    """``{(kind, sku)}`` of these SKUs with a value waiting for the next window."""
    out: set[tuple[str, str]] = set()
    for start in range(0, len(skus), CHUNK):
        out.update(session.execute(select(SyncOutbox.kind, SyncOutbox.sku).where(
            SyncOutbox.sku.in_(skus[start : start + CHUNK]), SyncOutbox.pending_value.is_not(None))).tuples())
    return out


def pending_count(session: Session, kinds: Iterable[Kind] | None = None) -> int:
    query = select(func.count()).select_from(SyncOutbox).where(SyncOutbox.pending_value.is_not(None))
    if kinds is not None:
        query = query.where(SyncOutbox.kind.in_([k.value for k in kinds]))
    return int(session.scalar(query) or 0)


def inflight_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SyncOutbox).where(
        SyncOutbox.inflight_batch_id.is_not(None))) or 0)


def _lane(session: Session, api: str) -> SyncLane:
    lane = session.get(SyncLane, api)
    if lane is None:
        session.execute(_insert(session, SyncLane).values(api=api).on_conflict_do_nothing())  # type: ignore[attr-defined]
        lane = session.get(SyncLane, api)
    assert lane is not None
    return lane


def batch_workflow_id(batch_id: int) -> str:
    return f"stock-push-{batch_id}"


def claim(session: Session, api: str, kinds: Sequence[Kind], *, interval_seconds: float,
          now: dt.datetime | None = None) -> int | None:
    """The batch this lane should be working on: the one in flight, or a new one holding every
    pending row of ``kinds`` when the last upload is at least ``interval_seconds`` old.

    Returns ``None`` when there is nothing to do now. The caller (re)starts the batch's workflow
    under :func:`batch_workflow_id`, which is idempotent, so a crash between claiming and starting
    is repaired by the next tick.
    """
    now = now or utcnow()
    lane = _lane(session, api)
    if lane.active_batch_id is not None:
        return lane.active_batch_id
    if lane.last_sent_at is not None and (now - lane.last_sent_at).total_seconds() < interval_seconds:
        return None
    kind_values = [k.value for k in kinds]
    has_pending = session.scalar(
        select(SyncOutbox.sku).where(
            SyncOutbox.kind.in_(kind_values), SyncOutbox.pending_value.is_not(None),
            SyncOutbox.inflight_batch_id.is_(None),
        ).limit(1)
    )
    if has_pending is None:
        return None
    batch = SyncBatch(api=api, kinds=",".join(kind_values), state="claimed", created_at=now)
    session.add(batch)
    session.flush()
    batch.workflow_id = batch_workflow_id(batch.id)
    # An UPDATE's result is a CursorResult (session.execute is typed as returning any Result).
    won = cast(CursorResult[Any], session.execute(
        update(SyncLane).where(SyncLane.api == api, SyncLane.active_batch_id.is_(None)).values(active_batch_id=batch.id)
    )).rowcount
    if won != 1:
        session.rollback()
        return None
    moved = cast(CursorResult[Any], session.execute(  # an UPDATE: a CursorResult, as above
        update(SyncOutbox)
        .where(SyncOutbox.kind.in_(kind_values), SyncOutbox.pending_value.is_not(None),
               SyncOutbox.inflight_batch_id.is_(None))
        .values(
            inflight_batch_id=batch.id,
            inflight_value=SyncOutbox.pending_value,
            inflight_first_noticed_at=SyncOutbox.pending_first_noticed_at,
            inflight_read_at=SyncOutbox.pending_noticed_at,
            pending_value=None,
            pending_noticed_at=None,
            pending_first_noticed_at=None,
        )
    )).rowcount
    batch.sku_count = moved
    return batch.id


def batch_values(session: Session, batch_id: int) -> dict[str, dict[str, str]]:
    """``{sku: {"quantity": "12", "price": "19.99"}}`` for the rows carried by a batch."""
    out: dict[str, dict[str, str]] = {}
    column = {Kind.STOCK.value: "quantity", Kind.PRICE.value: "price"}
    for kind, sku, value in session.execute(
        select(SyncOutbox.kind, SyncOutbox.sku, SyncOutbox.inflight_value).where(SyncOutbox.inflight_batch_id == batch_id)
    ):
        # :func:`claim` sets inflight_batch_id and inflight_value together, from a pending_value that
        # is not NULL, and :func:`_clear_inflight` clears both: a row of a batch carries a value.
        out.setdefault(sku, {})[column[kind]] = cast(str, value)
    return out


def mark_sent(session: Session, batch_id: int, import_id: str, now: dt.datetime | None = None, *,
              window_from: dt.datetime | None = None) -> None:
    """The upload was accepted. The lane's next window counts from ``window_from`` (when the call
    started: Mirakl's frequency limit is per call), so a slow upload of a large file does not push
    the next import back by its own duration."""
    now = now or utcnow()
    batch = session.get(SyncBatch, batch_id)
    assert batch is not None
    batch.import_id = import_id
    batch.state = "sent"
    batch.sent_at = now
    session.execute(update(SyncLane).where(SyncLane.api == batch.api).values(last_sent_at=window_from or now))


def mark_attempted(session: Session, api: str, now: dt.datetime | None = None) -> None:
    """An upload that failed still counts against the once-a-minute budget."""
    session.execute(update(SyncLane).where(SyncLane.api == api).values(last_sent_at=now or utcnow()))


@dataclass(frozen=True)
class InflightRow:
    kind: Kind
    sku: str
    value: str
    first_noticed_at: dt.datetime | None
    read_at: dt.datetime | None = None


def inflight_rows(session: Session, batch_id: int) -> list[InflightRow]:
    return [
        # not NULL in a batch's rows: see batch_values
        InflightRow(Kind(kind), sku, cast(str, value), noticed, read_at)
        for kind, sku, value, noticed, read_at in session.execute(
            select(SyncOutbox.kind, SyncOutbox.sku, SyncOutbox.inflight_value,
                   SyncOutbox.inflight_first_noticed_at, SyncOutbox.inflight_read_at)
            .where(SyncOutbox.inflight_batch_id == batch_id)
        )
    ]


def _clear_inflight(session: Session, batch_id: int) -> None:
    session.execute(delete(SyncOutbox).where(SyncOutbox.inflight_batch_id == batch_id,
                                             SyncOutbox.pending_value.is_(None)))
    session.execute(
        update(SyncOutbox).where(SyncOutbox.inflight_batch_id == batch_id)
        .values(inflight_batch_id=None, inflight_value=None, inflight_first_noticed_at=None, inflight_read_at=None)
    )


def _free_lane(session: Session, batch: SyncBatch) -> None:
    session.execute(update(SyncLane).where(SyncLane.api == batch.api, SyncLane.active_batch_id == batch.id)
                    .values(active_batch_id=None))


def complete(session: Session, batch_id: int, *, import_status: str, ok: int, errors: int,
             now: dt.datetime | None = None) -> None:
    """Close a processed batch (per-SKU results already written by the caller)."""
    batch = session.get(SyncBatch, batch_id)
    assert batch is not None
    _clear_inflight(session, batch_id)
    batch.state = "complete"
    batch.import_status = import_status
    batch.ok_count = ok
    batch.error_count = errors
    batch.completed_at = now or utcnow()
    _free_lane(session, batch)


def release(session: Session, batch_id: int, error: str, now: dt.datetime | None = None) -> int:
    """A batch failed as a whole: give its values back to ``pending`` (unless a newer value is
    already pending: newest wins) and free the lane. Returns the number of values requeued."""
    batch = session.get(SyncBatch, batch_id)
    if batch is None or batch.state in ("complete", "failed"):
        return 0
    requeued = cast(CursorResult[Any], session.execute(  # an UPDATE: a CursorResult (see claim)
        update(SyncOutbox)
        .where(and_(SyncOutbox.inflight_batch_id == batch_id, SyncOutbox.pending_value.is_(None)))
        .values(pending_value=SyncOutbox.inflight_value, pending_noticed_at=SyncOutbox.inflight_read_at,
                pending_first_noticed_at=SyncOutbox.inflight_first_noticed_at)
    )).rowcount
    _clear_inflight(session, batch_id)
    batch.state = "failed"
    batch.error = error[:4000]
    batch.completed_at = now or utcnow()
    _free_lane(session, batch)
    return requeued


def active_batches(session: Session) -> list[SyncBatch]:
    ids = [lane.active_batch_id for lane in session.scalars(select(SyncLane)) if lane.active_batch_id is not None]
    if not ids:
        return []
    return list(session.scalars(select(SyncBatch).where(SyncBatch.id.in_(ids))))


def delete_hints(session: Session, taken: Iterable[Any]) -> int:
    """Forget the hints a refresh has read (rows of :func:`take_hints`), each only if its token is
    still the one taken: a hint noticed again since (during the read, the queueing or the push)
    keeps its new token and is read by the next pass. Returns the number deleted."""
    rows = sorted(({"sku_": h.sku, "token_": h.token} for h in taken), key=lambda row: row["sku_"])  # lock order
    if not rows:
        return 0
    table = HINT_TABLE
    statement = delete(table).where(table.c.sku == bindparam("sku_"), table.c.token == bindparam("token_"))
    deleted = 0
    for start in range(0, len(rows), CHUNK * 4):
        # a DELETE's result is a CursorResult (see claim)
        deleted += cast(CursorResult[Any], session.execute(statement, rows[start : start + CHUNK * 4])).rowcount or 0
    return deleted


def take_hints(session: Session, limit: int, *, exclude: Set[str] = frozenset()) -> list[Any]:
    """The oldest hints as light rows (attribute access like the model; a burst takes ~50,000),
    leaving out the SKUs in ``exclude`` (those another pass of this process is reading)."""
    columns = [StockHint.__table__.c[name] for name in
               ("sku", "stock", "price", "details", "exact", "force", "first_noticed_at", "reason", "token")]
    query = select(*columns).order_by(StockHint.first_noticed_at)
    if not exclude:
        return list(session.execute(query.limit(limit)))
    # Filtered here, not in SQL: the excluded set can be a 50,000-SKU pass (too many parameters).
    rows = session.execute(query.limit(limit + len(exclude)))
    return [row for row in rows if row.sku not in exclude][:limit]


def hint_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StockHint)) or 0)


def as_mapping(rows: Iterable[InflightRow]) -> Mapping[tuple[str, str], InflightRow]:
    return {(r.kind.value, r.sku): r for r in rows}
