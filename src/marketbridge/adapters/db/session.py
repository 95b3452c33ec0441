"""Engine and unit of work.

One ``Database`` per process. ``with db.session() as s:`` commits on success and rolls back on
error. SQLite gets a busy timeout (DBOS writes to the same file from other threads), foreign
keys and write-ahead logging; PostgreSQL gets pre-ping so a restarted server does not surface as a failed step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from marketbridge.adapters.db import slow_writes
from marketbridge.adapters.db.sqlite_writes import TurnTakingConnection


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        # Writers in this process take turns on a lock, not in SQLite's busy handler (sqlite_writes).
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": TurnTakingConnection},
            pool_pre_ping=False,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # WAL: readers never block the writer (webhooks, DBOS checkpoints and a stock refresh
            # share one file) and a commit is one append. NORMAL sync: a killed process loses
            # nothing; a power cut may lose the last commits (use PostgreSQL where that matters).
            if not url.endswith(":memory:") and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


class Database:
    def __init__(self, url: str, *, slow_write_seconds: float = 0.0) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.slow_writes = slow_writes.watch(self.engine, slow_write_seconds)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """One round trip (``SELECT 1``) on a fresh connection; raises when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self.slow_writes is not None:
            self.slow_writes.stop()
        self.engine.dispose()


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Call ``callback()`` once, after ``session``'s transaction has committed (SQLAlchemy's
    ``after_commit`` event, ``once=True``); never when it rolls back. For a webhook handler that must
    act outside our transaction only once it is durable (``workflows.shipments.on_shipment_event``),
    without naming SQLAlchemy itself."""
    event.listen(session, "after_commit", lambda _session: callback(), once=True)
