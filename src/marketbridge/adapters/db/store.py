"""The boilerplate every storage adapter's store repeats: a store over a :class:`Database` hands
out its repository either on a session the caller already holds (:meth:`SqlStore.on_session`,
which commits nothing) or on a transaction of its own (:meth:`SqlStore.unit_of_work`: one
:meth:`Database.session`, committed when the block ends normally, rolled back when it raises).

A store says how its repository is built on a session (:meth:`SqlStore.repository`); stores whose
repositories need more than the session (an issue log, SKU links...) take those in their own
``__init__`` and pass them on there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeAlias, TypeVar

from sqlalchemy.orm import Session

from marketbridge.adapters.db.session import Database

RepositoryT = TypeVar("RepositoryT")


class SqlStore(Generic[RepositoryT]):
    """A store over ``db`` handing out ``RepositoryT`` (see the module doc)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def repository(self, session: Session) -> RepositoryT:
        """The repository on ``session`` (each store says how it is built)."""
        raise NotImplementedError

    def on_session(self, session: Session) -> RepositoryT:
        """A repository on a transaction the caller owns: nothing is committed here."""
        return self.repository(session)

    @contextmanager
    def unit_of_work(self) -> Iterator[RepositoryT]:
        with self.db.session() as session:
            yield self.repository(session)


#: A repository, or a bare session still handed in by a caller not yet on the port (the services
#: of a module freed of SQLAlchemy accept both while their callers move; see :func:`bare_session`).
OrSession: TypeAlias = RepositoryT | Session


def bare_session(target: object) -> Session | None:
    """``target`` when it is a bare SQLAlchemy session (the service then builds the adapter's
    repository on it), None when it is already a repository (the SQL one or a test's fake)."""
    return target if isinstance(target, Session) else None
