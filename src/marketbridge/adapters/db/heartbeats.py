"""The workers' heartbeats (``worker_heartbeats``): one row per executor id, its last beat and pid.

The maintenance sweep (``workflows/maintenance.py``) reads which workers fell silent to resume
their work; only this module writes the queries (issue 18 item 2).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import WorkerHeartbeat
from marketbridge.adapters.db.session import Database


def record_beat(db: Database, executor_id: str, pid: int) -> None:
    """This worker is alive now (the row is created on the first beat)."""
    with db.session() as session:
        row = session.get(WorkerHeartbeat, executor_id)
        if row is None:
            session.add(WorkerHeartbeat(executor_id=executor_id, seen_at=utcnow(), pid=pid))
        else:
            row.seen_at = utcnow()
            row.pid = pid


def silent_since(db: Database, cutoff: dt.datetime, *, besides: str) -> list[tuple[str, dt.datetime]]:
    """The workers other than ``besides`` whose last beat is older than ``cutoff``, with that beat
    (a dead worker's row stays; its last beat tells one death from the next)."""
    with db.session() as session:
        rows = session.execute(select(WorkerHeartbeat.executor_id, WorkerHeartbeat.seen_at).where(
            WorkerHeartbeat.seen_at < cutoff, WorkerHeartbeat.executor_id != besides)).all()
    return [(executor, seen_at) for executor, seen_at in rows]
