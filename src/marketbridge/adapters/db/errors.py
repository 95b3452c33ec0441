"""Our own database refusing for a moment, as the workflows need to know it without importing
SQLAlchemy (issue 18): "database is locked" on SQLite under load, a dropped PostgreSQL connection
(``OperationalError``), or no connection of the pool free within its time-out (``TimeoutError``,
"QueuePool limit ... reached"). Both are as transient as a remote 503: a step that meets one is
tried again instead of ending its workflow in ERROR under its deterministic id.

A flow whose storage port translates its errors (the orders flow: ``StorageBusy``, see
:func:`marketbridge.adapters.db.orders._port_errors`) catches the port's exception; these
predicates are for the errors that still arrive as SQLAlchemy's (a pool time-out is never
translated, and the shipments flow's store translates none).
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def is_transient(error: BaseException) -> bool:
    """True for an ``OperationalError`` or a pool time-out (see the module doc)."""
    return isinstance(error, OperationalError | PoolTimeout)


def transient_detail(error: BaseException) -> str | None:
    """The database's own message when :func:`is_transient` (an ``OperationalError``'s driver
    error, a pool time-out's text), else None."""
    if isinstance(error, OperationalError):
        return str(error.orig)
    if isinstance(error, PoolTimeout):
        return str(error)
    return None


__all__ = ["is_transient", "transient_detail"]
