"""The migration chain and the models agree, on SQLite and (PostgreSQL tier) PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from marketbridge.adapters.db import models  # noqa: F401
from marketbridge.adapters.db.base import Base
from marketbridge.adapters.db.migrate import current, upgrade


def test_upgrade_to_head_matches_the_models(db_url):
    upgrade(db_url)
    assert current(db_url) is not None
    engine = create_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith(("dbos", "workflow", "operation", "notifications", "event", "streams", "queue", "application")))]
    assert ours == [], f"models and migrations differ: {ours}"


def test_upgrade_is_idempotent(db_url):
    upgrade(db_url)
    first = current(db_url)
    upgrade(db_url)
    assert current(db_url) == first
