"""The stock flow's storage over SQLAlchemy: :class:`SqlStockRepository` implements
:class:`marketbridge.ports.StockRepository` (issue 18 item 2) on one session, the caller's
transaction, so the flow's reads and writes of ``sku_states``, ``sku_push_log``, ``stock_rules``,
its poll cursors and the active SKU issues it clears are written here and nowhere in
``services/stock``. The outbox's statements (hints, pending and in-flight values, lanes, batches)
are the :class:`~marketbridge.adapters.db.stock_outbox.SqlStockOutbox` half.

The statements are the services' own, moved unchanged (the same WHERE clauses, orderings, row locks,
chunks and bulk shapes); the decisions (newer facts win, which result a SKU gets, which hints to
write) stay in the services, which pass the columns and markers in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence, Set
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.cursors import StreamCursors
from marketbridge.adapters.db.models.core import IssueRecord, StreamCursor
from marketbridge.adapters.db.models.stock import SkuPushLog, SkuState, StockRule, SyncLane
from marketbridge.adapters.db.stock_outbox import CHUNK, SqlStockOutbox, _insert

# A declarative model with ``__tablename__`` is mapped to a Table; SQLAlchemy types ``__table__`` as
# any FromClause (a model may be mapped to a join or a select), which update() does not accept.
STATE_TABLE = cast(Table, SkuState.__table__)
STATE_COLUMNS = [c.name for c in STATE_TABLE.columns]


class SqlStockRepository(SqlStockOutbox, StreamCursors):
    """:class:`marketbridge.ports.StockRepository` on one session (nothing committed here)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def flush(self) -> None:
        self.session.flush()

    # sku_states ----------------------------------------------------------------------------------

    def state_columns(self) -> list[str]:
        return list(STATE_COLUMNS)

    def load_states(self, skus: Sequence[str], *, columns: Sequence[str] | None = None,
                    ) -> dict[str, dict[str, Any]]:
        selected = [STATE_TABLE.c[name] for name in columns] if columns else [STATE_TABLE]
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(skus), CHUNK):
            part = skus[start : start + CHUNK]
            for row in self.session.execute(select(*selected).where(STATE_TABLE.c.sku.in_(part))).mappings():
                out[row["sku"]] = dict(row)
        return out

    def existing_skus(self, skus: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(skus), CHUNK):
            out.update(self.session.scalars(select(SkuState.sku).where(SkuState.sku.in_(skus[start : start + CHUNK]))))
        return out

    def save_states(self, rows: Sequence[dict[str, Any]], *, skip_columns: Set[str], keep_marker: str,
                    result_columns: Sequence[str]) -> None:
        """Upsert state rows: every column but ``sku`` and ``skip_columns``; a result column whose
        value is ``keep_marker`` keeps the stored one; an older read never writes over a newer one."""
        session = self.session
        stmt = _insert(session, SkuState)
        ex = stmt.excluded
        set_ = {name: ex[name] for name in STATE_COLUMNS if name != "sku" and name not in skip_columns}
        for column in result_columns:
            set_[column] = case((ex[column] == keep_marker, STATE_TABLE.c[column]), else_=ex[column])
        # Second line of defence for rows created by two passes at once (nothing to lock before they
        # exist): an older read never writes over a newer one.
        newer_or_same = or_(STATE_TABLE.c.read_at.is_(None), ex.read_at.is_(None), STATE_TABLE.c.read_at <= ex.read_at)
        stmt = stmt.on_conflict_do_update(index_elements=["sku"], set_=set_, where=newer_or_same)
        for start in range(0, len(rows), 1000):
            session.execute(stmt, list(rows[start : start + 1000]))

    def database_now(self) -> dt.datetime:
        session = self.session
        if session.get_bind().dialect.name == "postgresql":
            moment = session.scalar(select(func.clock_timestamp()))
            if isinstance(moment, dt.datetime):
                return moment.astimezone(dt.UTC)
        return utcnow()

    def lock_states_for_apply(self, skus: Sequence[str]) -> None:
        """PostgreSQL: lock the existing rows (sorted). SQLite: take the database's write lock now
        (a write that changes nothing)."""
        session = self.session
        if session.get_bind().dialect.name != "postgresql":
            session.execute(update(SyncLane).where(SyncLane.api.is_(None)).values(api=SyncLane.api))
            return
        ordered = sorted(set(skus))
        for start in range(0, len(ordered), CHUNK):
            session.execute(select(STATE_TABLE.c.sku).where(STATE_TABLE.c.sku.in_(ordered[start : start + CHUNK]))
                            .order_by(STATE_TABLE.c.sku).with_for_update())

    def lock_state_rows(self, skus: Sequence[str]) -> set[str]:
        """The SKUs among ``skus`` (sorted) that have a state row, each locked in SKU order."""
        out: set[str] = set()
        for start in range(0, len(skus), CHUNK):
            out.update(self.session.scalars(select(SkuState.sku).where(SkuState.sku.in_(skus[start : start + CHUNK]))
                                            .order_by(SkuState.sku).with_for_update()))
        return out

    def update_states(self, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Core executemany: ``columns`` of each row named by ``b_sku`` (parameters ``b_<column>``)."""
        statement = (update(STATE_TABLE).where(STATE_TABLE.c.sku == bindparam("b_sku"))
                     .values({c: bindparam(f"b_{c}") for c in columns}))
        self.session.execute(statement, list(rows))

    def add_push_log(self, history: Sequence[dict[str, Any]]) -> None:
        # mapped to a Table (typed as any FromClause: see STATE_TABLE): Core executemany
        self.session.execute(insert(cast(Table, SkuPushLog.__table__)), list(history))

    def delete_push_log_before(self, cutoff: dt.datetime) -> None:
        self.session.execute(delete(SkuPushLog).where(SkuPushLog.completed_at < cutoff))

    def fingerprints(self) -> dict[str, str | None]:
        return dict(self.session.execute(select(SkuState.sku, SkuState.source_fingerprint)).tuples().all())

    def set_fingerprints(self, seen: Sequence[dict[str, Any]]) -> None:
        self.session.execute(update(STATE_TABLE).where(STATE_TABLE.c.sku == bindparam("sku_"))
                             .values(source_fingerprint=bindparam("fp")), list(seen))

    def reservation_flags(self) -> dict[str, bool]:
        return dict(self.session.execute(select(SkuState.sku, SkuState.reservations_suspected)).tuples().all())

    def min_quantities(self) -> dict[str, float]:
        return dict(self.session.execute(select(SkuState.sku, SkuState.min_qty)).tuples().all())

    def unmanaged_skus(self) -> set[str]:
        return set(self.session.scalars(select(SkuState.sku).where(SkuState.manage_stock.is_(False))))

    def all_skus(self) -> list[str]:
        return list(self.session.scalars(select(SkuState.sku)))

    def state_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(SkuState)) or 0)

    def error_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(SkuState).where(
            (SkuState.stock_result == "error") | (SkuState.price_result == "error"))) or 0)

    def mark_pushed(self, skus: Sequence[str], *, pushed_column: str, import_column: str, at: dt.datetime,
                    import_id: str) -> None:
        pushed, imp = getattr(SkuState, pushed_column), getattr(SkuState, import_column)
        for start in range(0, len(skus), CHUNK):
            self.session.execute(update(SkuState).where(SkuState.sku.in_(skus[start : start + CHUNK]))
                                 .values({pushed: at, imp: import_id}))

    def state(self, sku: str) -> SkuState | None:
        return self.session.get(SkuState, sku)

    def state_rows(self, *, result: str | None, limit: int, offset: int) -> list[SkuState]:
        query = select(SkuState).order_by(SkuState.sku)
        if result:
            query = query.where((SkuState.stock_result == result) | (SkuState.price_result == result))
        return list(self.session.scalars(query.limit(limit).offset(offset)))

    def push_log(self, sku: str, limit: int) -> list[SkuPushLog]:
        return list(self.session.scalars(select(SkuPushLog).where(SkuPushLog.sku == sku)
                                         .order_by(SkuPushLog.id.desc()).limit(limit)))

    # the active SKU issues the flow clears --------------------------------------------------------

    def active_issue_ids(self, codes: Sequence[str], active_states: Sequence[str],
                         skus: Iterable[str]) -> dict[str, set[str]]:
        wanted = set(skus)
        out: dict[str, set[str]] = {}
        for code, object_id in self.session.execute(
            select(IssueRecord.type, IssueRecord.object_id).where(
                IssueRecord.type.in_(list(codes)), IssueRecord.state.in_(active_states)
            )
        ):
            if object_id in wanted:
                out.setdefault(object_id, set()).add(code)
        return out

    # the poll's cursors (only move forward) -------------------------------------------------------

    # ``cursor`` comes from :class:`StreamCursors`; the stock poll's own move only goes forward.
    def advance_cursor(self, name: str, value: str) -> None:
        row = self.session.get(StreamCursor, name)
        if row is None:
            self.session.add(StreamCursor(name=name, value=value))
        elif value > row.value:
            row.value = value

    # stock_rules ---------------------------------------------------------------------------------

    def rule_rows(self) -> list[StockRule]:
        return list(self.session.scalars(select(StockRule).order_by(StockRule.id)).all())

    def list_rule_rows(self, kind: str | None) -> list[StockRule]:
        query = select(StockRule).order_by(StockRule.kind, StockRule.scope, StockRule.scope_key)
        if kind is not None:
            query = query.where(StockRule.kind == kind)
        return list(self.session.scalars(query))

    def find_rule(self, kind: str, scope: str, scope_key: str) -> StockRule | None:
        return self.session.scalars(
            select(StockRule).where(
                StockRule.kind == kind, StockRule.scope == scope, StockRule.scope_key == scope_key
            )
        ).first()

    def new_rule(self, kind: str, scope: str, scope_key: str) -> StockRule:
        row = StockRule(kind=kind, scope=scope, scope_key=scope_key)
        self.session.add(row)
        return row

    def rule(self, rule_id: int) -> StockRule | None:
        return self.session.get(StockRule, rule_id)

    def delete_rule(self, row: StockRule) -> None:
        self.session.delete(row)
