"""Alembic environment: runs migrations on the URL set by marketbridge.adapters.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from marketbridge.adapters.db import models  # noqa: F401  (fills Base.metadata)
from marketbridge.adapters.db.base import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Leave DBOS's own tables (SQLite keeps them in the same file) out of our migrations."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return True


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Render our UTC column type as a plain timezone-aware DateTime in migration files."""
    from marketbridge.adapters.db.base import UtcDateTime

    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_object,
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
