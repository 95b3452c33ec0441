"""The dialect's INSERT for a model's table, for ``ON CONFLICT`` (SQLite and PostgreSQL spell it
the same way in SQLAlchemy, but each needs its own ``insert``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: type) -> Any:
    """A Core INSERT on the model's *table* (executemany-friendly, not the ORM's per-row path),
    with ``on_conflict_do_update`` / ``on_conflict_do_nothing`` available."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(model.__table__)  # type: ignore[attr-defined]
