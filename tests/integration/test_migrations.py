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


def test_accounts_migration_upgrades_a_database_with_users_and_tokens(db_url):
    """0008 on a database that already has users and tokens, one of them left by a deleted user:
    users keep their ids, the orphan token is dropped, deleting a user deletes its tokens, and a
    new user never gets a deleted user's id."""
    from sqlalchemy import text

    from marketbridge.adapters.db.session import Database

    upgrade(db_url, "0007_console")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for name in ("ann", "bob", "cat"):  # ids 1, 2, 3 from the table's own sequence
            conn.execute(text("INSERT INTO users (name, role, password_hash, active, created_at) "
                              "VALUES (:name, 'ops', 'x', true, CURRENT_TIMESTAMP)"), {"name": name})
        for tid, uid in ((1, 1), (2, 2), (3, 2), (4, 9)):  # user 9 was deleted: an orphan token
            conn.execute(text("INSERT INTO api_tokens (id, user_id, token_hash, label, created_at, revoked) "
                              "VALUES (:id, :uid, :hash, '', CURRENT_TIMESTAMP, false)"),
                         {"id": tid, "uid": uid, "hash": f"h{tid}"})
    engine.dispose()
    upgrade(db_url)
    db = Database(db_url)  # the service's engine (SQLite: foreign keys on)
    try:
        with db.engine.begin() as conn:
            users = conn.execute(text("SELECT id, name, session_version FROM users ORDER BY id")).all()
            assert [tuple(u) for u in users] == [(1, "ann", 0), (2, "bob", 0), (3, "cat", 0)]
            assert conn.execute(text("SELECT id FROM api_tokens ORDER BY id")).scalars().all() == [1, 2, 3]
            conn.execute(text("DELETE FROM users WHERE id IN (2, 3)"))
            assert conn.execute(text("SELECT id FROM api_tokens ORDER BY id")).scalars().all() == [1]
            conn.execute(text("INSERT INTO users (name, role, password_hash, active, created_at) "
                              "VALUES ('dan', 'ops', 'x', true, CURRENT_TIMESTAMP)"))
            new_id = conn.execute(text("SELECT id FROM users WHERE name = 'dan'")).scalar_one()
        assert new_id > 3, "a deleted user's id was handed out again"
    finally:
        db.dispose()
