"""SQL for the marketplace call budgets (:class:`marketbridge.ports.budgets.CallBudgetStore`).

:meth:`SqlCallBudgetStore.add` is the batch ``adapters.mirakl.usage`` writes every few seconds: one
``INSERT ... ON CONFLICT DO UPDATE SET calls = calls + excluded.calls`` per bucket, an upsert per
flow's deferral, and a delete of what is older than a day, all in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import delete, func, select

from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.budgets import MiraklCallCount, MiraklFlowDeferral
from marketbridge.adapters.db.session import Database
from marketbridge.domain.budgets import DAY, CallCount, Deferral


class SqlCallBudgetStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, counts: Sequence[CallCount], deferrals: Sequence[Deferral]) -> None:
        if not counts and not deferrals:
            return
        with self._db.session() as session:
            if counts:
                insert = dialect_insert(session, MiraklCallCount)
                statement = insert.on_conflict_do_update(
                    index_elements=["bucket_start", "api", "flow"],
                    set_={"calls": MiraklCallCount.__table__.c.calls + insert.excluded.calls,
                          "last_at": func.max(MiraklCallCount.__table__.c.last_at, insert.excluded.last_at)
                          if session.get_bind().dialect.name == "sqlite"
                          else func.greatest(MiraklCallCount.__table__.c.last_at, insert.excluded.last_at)})
                session.execute(statement, [{"bucket_start": int(c.start), "api": c.api, "flow": c.flow,
                                             "calls": c.calls, "last_at": c.last_at} for c in counts])
                session.execute(delete(MiraklCallCount).where(MiraklCallCount.bucket_start < int(time.time() - DAY)))
            for deferral in deferrals:
                insert = dialect_insert(session, MiraklFlowDeferral)
                values = {"api": deferral.api, "at": deferral.at, "until": deferral.until, "reason": deferral.reason}
                session.execute(insert.values(flow=deferral.flow, **values).on_conflict_do_update(
                    index_elements=["flow"], set_=values, where=MiraklFlowDeferral.__table__.c.at <= deferral.at))

    def read(self, since: float) -> tuple[list[CallCount], list[Deferral]]:
        with self._db.session() as session:
            rows = session.execute(select(MiraklCallCount).where(MiraklCallCount.bucket_start >= int(since))).scalars()
            counts = [CallCount(float(r.bucket_start), r.api, r.flow, r.calls, r.last_at) for r in rows]
            kept = session.execute(select(MiraklFlowDeferral).where(MiraklFlowDeferral.at >= time.time() - DAY)).scalars()
            deferrals = [Deferral(r.flow, r.api, r.at, r.until, r.reason) for r in kept]
        return counts, deferrals


__all__ = ["SqlCallBudgetStore"]
