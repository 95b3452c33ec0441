"""The boilerplate every storage adapter's store repeats: a store over a :class:`Database` hands
out its repository either on a session the caller already holds (:meth:`SqlStore.on_session`,
which commits nothing) or on a transaction of its own (:meth:`SqlStore.unit_of_work`: one
:meth:`Database.session`, committed when the block ends normally, rolled back when it raises).

A store says how its repository is built on a session (:meth:`SqlStore.repository`); stores whose
repositories need more than the session (an issue log, SKU links...) take those in their own
``__init__`` and pass them on there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
#: of a module freed of SQLAlchemy accept both while their callers move; see :func:`on_repository`).
OrSession: TypeAlias = RepositoryT | Session


def on_repository(target: OrSession[RepositoryT], build: Callable[[Session], RepositoryT]) -> RepositoryT:
    """``target`` when it already is a repository (the SQL one or a test's fake), else ``build``
    on the bare session a caller not yet on the port handed in (same transaction)."""
    return build(target) if isinstance(target, Session) else target
