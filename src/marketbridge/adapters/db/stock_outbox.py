"""The stock flow's durable outbox over SQLAlchemy (issue 18 item 2): hints (``stock_hints``),
pending and in-flight values (``sync_outbox``), lanes (``sync_lanes``) and batches
(``sync_batches``). :class:`SqlStockOutbox` runs the statements that ``services.stock.outbox``
(and ``push``) decide on, on the caller's session: a claim, a release or a completion is still one
transaction of several statements, exactly as when the service wrote them. The statements are the
service's, moved here unchanged (same WHERE clauses, ordering, chunking, conditional UPDATEs and
their row counts); the state machines' rules stay in ``services.stock.outbox``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence, Set
from typing import Any, cast

from sqlalchemy import CursorResult, String, Table, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.stock import StockHint, SyncBatch, SyncLane, SyncOutbox

CHUNK = 500
# Longest SKU a hint can hold (the column's length). Adobe Commerce caps SKUs at 64 characters, so
# a longer one in a webhook names no product; PostgreSQL would refuse the whole insert for it.
# SQLAlchemy types a column's ``type`` as any TypeEngine, and a String's length as optional; this
# column is declared String(128), so both casts only say what the model declares.
HINT_SKU_MAX = cast(int, cast(String, StockHint.__table__.c.sku.type).length)
# A declarative model with ``__tablename__`` is mapped to a Table; SQLAlchemy types ``__table__`` as
# any FromClause (a model may be mapped to a join or a select), which delete() does not accept.
HINT_TABLE = cast(Table, StockHint.__table__)


def _insert(session: Session, model: type) -> Any:
    """A dialect INSERT (for ON CONFLICT) on the model's *table*: Core executemany, not the ORM's
    per-row bulk path, which is several times slower for tens of thousands of rows."""
    return dialect_insert(session, model)


class SqlStockOutbox:
    """:class:`marketbridge.ports.stock.StockOutboxRepository` on one session."""

    session: Session

    @property
    def hint_sku_max(self) -> int:
        return HINT_SKU_MAX

    def upsert_hints(self, rows: Sequence[dict[str, Any]]) -> None:
        session = self.session
        stmt = _insert(session, StockHint)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
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
            session.execute(stmt, list(rows[start : start + CHUNK * 4]))

    def upsert_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        session = self.session
        stmt = _insert(session, SyncOutbox)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "sku"],
            set_={
                "pending_value": ex.pending_value,
                "pending_noticed_at": ex.pending_noticed_at,
                "pending_first_noticed_at": func.coalesce(SyncOutbox.pending_first_noticed_at,
                                                          ex.pending_first_noticed_at),
            },
        )
        for start in range(0, len(rows), CHUNK * 4):
            session.execute(stmt, list(rows[start : start + CHUNK * 4]))

    def last_sent_values(self, kind_value: str, skus: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for start in range(0, len(skus), CHUNK):
            part = skus[start : start + CHUNK]
            for sku, pending, inflight in self.session.execute(
                select(SyncOutbox.sku, SyncOutbox.pending_value, SyncOutbox.inflight_value).where(
                    SyncOutbox.kind == kind_value, SyncOutbox.sku.in_(part)
                )
            ):
                if pending is not None:
                    out[sku] = pending
                elif inflight is not None:
                    out[sku] = inflight
        return out

    def pending_keys(self, skus: Sequence[str]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for start in range(0, len(skus), CHUNK):
            out.update(self.session.execute(select(SyncOutbox.kind, SyncOutbox.sku).where(
                SyncOutbox.sku.in_(skus[start : start + CHUNK]), SyncOutbox.pending_value.is_not(None))).tuples())
        return out

    def pending_count(self, kind_values: Iterable[str] | None = None) -> int:
        query = select(func.count()).select_from(SyncOutbox).where(SyncOutbox.pending_value.is_not(None))
        if kind_values is not None:
            query = query.where(SyncOutbox.kind.in_(list(kind_values)))
        return int(self.session.scalar(query) or 0)

    def pending_of_kind(self, kind_value: str) -> int:
        return int(self.session.scalar(select(func.count()).select_from(SyncOutbox).where(
            SyncOutbox.kind == kind_value, SyncOutbox.pending_value.is_not(None))) or 0)

    def inflight_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(SyncOutbox).where(
            SyncOutbox.inflight_batch_id.is_not(None))) or 0)

    def lane(self, api: str) -> SyncLane:
        session = self.session
        lane = session.get(SyncLane, api)
        if lane is None:
            session.execute(_insert(session, SyncLane).values(api=api).on_conflict_do_nothing())
            lane = session.get(SyncLane, api)
        assert lane is not None
        return lane

    def lane_row(self, api: str) -> SyncLane | None:
        return self.session.get(SyncLane, api)

    def lanes(self) -> list[SyncLane]:
        return list(self.session.scalars(select(SyncLane).order_by(SyncLane.api)))

    def has_claimable(self, kind_values: Sequence[str]) -> bool:
        has_pending = self.session.scalar(
            select(SyncOutbox.sku).where(
                SyncOutbox.kind.in_(list(kind_values)), SyncOutbox.pending_value.is_not(None),
                SyncOutbox.inflight_batch_id.is_(None),
            ).limit(1)
        )
        return has_pending is not None

    def add_batch(self, api: str, kinds: str, now: dt.datetime) -> SyncBatch:
        batch = SyncBatch(api=api, kinds=kinds, state="claimed", created_at=now)
        self.session.add(batch)
        self.session.flush()
        return batch

    def take_lane(self, api: str, batch_id: int) -> int:
        # An UPDATE's result is a CursorResult (session.execute is typed as returning any Result).
        return cast(CursorResult[Any], self.session.execute(
            update(SyncLane).where(SyncLane.api == api, SyncLane.active_batch_id.is_(None))
            .values(active_batch_id=batch_id)
        )).rowcount

    def rollback(self) -> None:
        self.session.rollback()

    def move_pending_into_batch(self, kind_values: Sequence[str], batch_id: int) -> int:
        return cast(CursorResult[Any], self.session.execute(  # an UPDATE: a CursorResult, as above
            update(SyncOutbox)
            .where(SyncOutbox.kind.in_(list(kind_values)), SyncOutbox.pending_value.is_not(None),
                   SyncOutbox.inflight_batch_id.is_(None))
            .values(
                inflight_batch_id=batch_id,
                inflight_value=SyncOutbox.pending_value,
                inflight_first_noticed_at=SyncOutbox.pending_first_noticed_at,
                inflight_read_at=SyncOutbox.pending_noticed_at,
                pending_value=None,
                pending_noticed_at=None,
                pending_first_noticed_at=None,
            )
        )).rowcount

    def batch(self, batch_id: int) -> SyncBatch | None:
        return self.session.get(SyncBatch, batch_id)

    def batch_rows(self, batch_id: int) -> list[tuple[str, str, str | None]]:
        return [(kind, sku, value) for kind, sku, value in self.session.execute(
            select(SyncOutbox.kind, SyncOutbox.sku, SyncOutbox.inflight_value)
            .where(SyncOutbox.inflight_batch_id == batch_id)
        )]

    def lane_sent_at(self, api: str, at: dt.datetime) -> None:
        self.session.execute(update(SyncLane).where(SyncLane.api == api).values(last_sent_at=at))

    def inflight_rows(self, batch_id: int) -> list[tuple[str, str, str | None, dt.datetime | None, dt.datetime | None]]:
        return [
            (kind, sku, value, noticed, read_at)
            for kind, sku, value, noticed, read_at in self.session.execute(
                select(SyncOutbox.kind, SyncOutbox.sku, SyncOutbox.inflight_value,
                       SyncOutbox.inflight_first_noticed_at, SyncOutbox.inflight_read_at)
                .where(SyncOutbox.inflight_batch_id == batch_id)
            )
        ]

    def clear_inflight(self, batch_id: int) -> None:
        session = self.session
        session.execute(delete(SyncOutbox).where(SyncOutbox.inflight_batch_id == batch_id,
                                                 SyncOutbox.pending_value.is_(None)))
        session.execute(
            update(SyncOutbox).where(SyncOutbox.inflight_batch_id == batch_id)
            .values(inflight_batch_id=None, inflight_value=None, inflight_first_noticed_at=None,
                    inflight_read_at=None)
        )

    def free_lane(self, batch: SyncBatch) -> None:
        self.session.execute(update(SyncLane).where(SyncLane.api == batch.api, SyncLane.active_batch_id == batch.id)
                             .values(active_batch_id=None))

    def requeue_inflight(self, batch_id: int) -> int:
        return cast(CursorResult[Any], self.session.execute(  # an UPDATE: a CursorResult (see take_lane)
            update(SyncOutbox)
            .where(and_(SyncOutbox.inflight_batch_id == batch_id, SyncOutbox.pending_value.is_(None)))
            .values(pending_value=SyncOutbox.inflight_value, pending_noticed_at=SyncOutbox.inflight_read_at,
                    pending_first_noticed_at=SyncOutbox.inflight_first_noticed_at)
        )).rowcount

    def requeue_skus(self, batch_id: int, skus: Sequence[str]) -> int:
        requeued = 0
        for start in range(0, len(skus), CHUNK):
            part = list(skus[start : start + CHUNK])
            of_batch = and_(SyncOutbox.inflight_batch_id == batch_id, SyncOutbox.sku.in_(part))
            requeued += cast(CursorResult[Any], self.session.execute(  # an UPDATE: a CursorResult
                update(SyncOutbox).where(of_batch, SyncOutbox.pending_value.is_(None))
                .values(pending_value=SyncOutbox.inflight_value, pending_noticed_at=SyncOutbox.inflight_read_at,
                        pending_first_noticed_at=SyncOutbox.inflight_first_noticed_at)
            )).rowcount
            self.session.execute(update(SyncOutbox).where(of_batch).values(
                inflight_batch_id=None, inflight_value=None, inflight_first_noticed_at=None, inflight_read_at=None))
        return requeued

    def active_batches(self) -> list[SyncBatch]:
        session = self.session
        ids = [lane.active_batch_id for lane in session.scalars(select(SyncLane)) if lane.active_batch_id is not None]
        if not ids:
            return []
        return list(session.scalars(select(SyncBatch).where(SyncBatch.id.in_(ids))))

    def delete_hints(self, rows: Sequence[dict[str, Any]]) -> int:
        table = HINT_TABLE
        statement = delete(table).where(table.c.sku == bindparam("sku_"), table.c.token == bindparam("token_"))
        deleted = 0
        for start in range(0, len(rows), CHUNK * 4):
            # a DELETE's result is a CursorResult (see take_lane)
            deleted += cast(CursorResult[Any], self.session.execute(
                statement, list(rows[start : start + CHUNK * 4]))).rowcount or 0
        return deleted

    def take_hints(self, limit: int, *, exclude: Set[str] = frozenset(),
                   held: tuple[str, dt.datetime] | None = None) -> list[Any]:
        columns = [StockHint.__table__.c[name] for name in
                   ("sku", "stock", "price", "details", "exact", "force", "first_noticed_at", "reason", "token")]
        query = select(*columns).order_by(StockHint.first_noticed_at)
        if held is not None:
            reason, since = held
            query = query.where(or_(StockHint.reason != reason, StockHint.touched_at <= since))
        if not exclude:
            return list(self.session.execute(query.limit(limit)))
        # Filtered here, not in SQL: the excluded set can be a 50,000-SKU pass (too many parameters).
        rows = self.session.execute(query.limit(limit + len(exclude)))
        return [row for row in rows if row.sku not in exclude][:limit]

    def hint_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(StockHint)) or 0)

    def hint(self, sku: str) -> StockHint | None:
        return self.session.get(StockHint, sku)

    def start_upload(self, batch_id: int, owner: str) -> int:
        # an UPDATE's result is a CursorResult (session.execute is typed as returning any Result)
        return cast(CursorResult[Any], self.session.execute(
            update(SyncBatch).where(SyncBatch.id == batch_id, SyncBatch.state == "claimed")
            .values(state="uploading", workflow_id=owner)
        )).rowcount

    def batch_list(self, limit: int) -> list[SyncBatch]:
        return list(self.session.scalars(select(SyncBatch).order_by(SyncBatch.id.desc()).limit(limit)))

    def oldest_pending_change(self) -> dt.datetime | None:
        return self.session.scalar(select(func.min(SyncOutbox.pending_first_noticed_at))
                                   .where(SyncOutbox.pending_value.is_not(None)))

    def import_counts_since(self, since: dt.datetime) -> list[tuple[str, str, int]]:
        rows = self.session.execute(select(SyncBatch.api, SyncBatch.state, func.count())
                                    .where(SyncBatch.created_at >= since).group_by(SyncBatch.api, SyncBatch.state))
        return [(str(api), str(state), int(n)) for api, state, n in rows]

    def outbox_of(self, sku: str) -> list[SyncOutbox]:
        return list(self.session.scalars(select(SyncOutbox).where(SyncOutbox.sku == sku)))
