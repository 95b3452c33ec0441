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


# The awkward floats the old FLOAT money columns held: (subtotal, shipping, total) per order and
# (unit_price, price, shipping) per line, with the exact Decimals they must become.
_ORDER_FLOATS = [
    ((19.99, 0.1 + 0.2, 1234567.89), ("19.99", "0.30", "1234567.89")),
    ((0.0, 0.0, 0.0), ("0.00", "0.00", "0.00")),
    ((-4.99, 2.675, 9999999999.99), ("-4.99", "2.68", "9999999999.99")),  # 2.675 is 2.67499999… as a float
    ((1.005, 0.015, 33.33), ("1.01", "0.02", "33.33")),
]
_LINE_FLOATS = [
    ((10.0 / 3, 10.0, 0.1 * 3), ("3.3333", "10.00", "0.30")),
    ((19.99, 59.97, 4.5), ("19.9900", "59.97", "4.50")),
    ((0.0, 0.0, 0.0), ("0.0000", "0.00", "0.00")),
    ((-0.5, -1.5, 0.005), ("-0.5000", "-1.50", "0.01")),
]


def _line_id(order: int, line: int) -> int:
    """Rows take their ids from the tables' own sequences (PostgreSQL's must stay in step)."""
    return (order - 1) * len(_LINE_FLOATS) + line


def test_money_migration_turns_float_amounts_into_exact_decimals(db_url):
    """0011 on a database whose orders tables hold floats: every amount comes back as the exact
    Decimal it stood for (rounded half away from zero to the column's scale), the rows keep their
    ids and links (the SQLite table copy must not cascade-delete the lines), the ORM reads Decimal,
    and the downgrade gives floats back."""
    from decimal import Decimal

    from alembic import command
    from sqlalchemy import Float, Numeric, inspect, text

    from marketbridge.adapters.db.migrate import alembic_config
    from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
    from marketbridge.adapters.db.session import Database

    upgrade(db_url, "0010_personal_data")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for n, ((subtotal, shipping, total), _) in enumerate(_ORDER_FLOATS, start=1):
            conn.execute(text(
                "INSERT INTO marketplace_orders (connection, order_id, state, state_changed_at, marketplace_state, "
                "marketplace_updated_at, marketplace_created_at, currency, subtotal, shipping_price, total_price, raw, "
                "decision, reason, magento_totals, create_attempt, received_at, updated_at) VALUES ('jl', :oid, "
                "'received', CURRENT_TIMESTAMP, 'WAITING_ACCEPTANCE', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'GBP', "
                ":subtotal, :shipping, :total, '{}', '{}', '', '{}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"oid": f"O-{n}", "subtotal": subtotal, "shipping": shipping, "total": total})
            for m, ((unit, price, line_shipping), _) in enumerate(_LINE_FLOATS, start=1):
                conn.execute(text(
                    "INSERT INTO order_lines (order_pk, order_line_id, position, offer_sku, quantity, unit_price, "
                    "price, shipping_price, marketplace_state, reasons) VALUES (:pk, :lid, :pos, 'MB-1', 3, "
                    ":unit, :price, :shipping, 'WAITING_ACCEPTANCE', '[]')"),
                    {"pk": n, "lid": f"O-{n}-{m}", "pos": m, "unit": unit, "price": price,
                     "shipping": line_shipping})
    engine.dispose()

    upgrade(db_url, "0011_money_decimal")  # this migration's own revision (later ones add other tables)
    assert current(db_url) == "0011_money_decimal"
    engine = create_engine(db_url)
    with engine.connect() as conn:  # the columns themselves, not only what the ORM makes of them
        columns = {(t, c["name"]): c["type"] for t in ("marketplace_orders", "order_lines")
                   for c in inspect(conn).get_columns(t)}
        for (table, name), (precision, scale) in {("marketplace_orders", "subtotal"): (12, 2),
                                                  ("marketplace_orders", "total_price"): (12, 2),
                                                  ("order_lines", "unit_price"): (14, 4),
                                                  ("order_lines", "shipping_price"): (12, 2)}.items():
            kind = columns[(table, name)]
            assert isinstance(kind, Numeric) and not isinstance(kind, Float), (table, name, kind)
            assert (kind.precision, kind.scale) == (precision, scale), (table, name, kind)
        if conn.dialect.name == "postgresql":  # stored as exact decimals, as the driver reads them
            raw = conn.execute(text("SELECT subtotal, shipping_price, total_price FROM marketplace_orders "
                                    "ORDER BY id")).all()
            assert [[str(v) for v in row] for row in raw] == [list(e) for _, e in _ORDER_FLOATS]
    engine.dispose()
    db = Database(db_url)
    try:
        with db.session() as session:
            orders = {o.id: o for o in session.query(MarketplaceOrder).all()}
            assert sorted(orders) == [1, 2, 3, 4]
            for n, (_, expected) in enumerate(_ORDER_FLOATS, start=1):
                got = (orders[n].subtotal, orders[n].shipping_price, orders[n].total_price)
                assert all(type(v) is Decimal for v in got)
                assert [str(v) for v in got] == list(expected), f"order {n}"
                lines = {line.id: line for line in orders[n].lines}
                assert sorted(lines) == [_line_id(n, m) for m in range(1, 5)]
                for m, (_, line_expected) in enumerate(_LINE_FLOATS, start=1):
                    line = lines[_line_id(n, m)]
                    got = (line.unit_price, line.price, line.shipping_price)
                    assert [str(v) for v in got] == list(line_expected), f"line {n}.{m}"
            # a new row stores and reads back an exact amount, and the cascade still holds
            session.add(MarketplaceOrder(
                connection="jl", order_id="O-new", marketplace_state="SHIPPING", currency="GBP",
                marketplace_updated_at=orders[1].marketplace_updated_at,
                marketplace_created_at=orders[1].marketplace_created_at,
                subtotal=Decimal("0.10") + Decimal("0.20"), shipping_price=Decimal("3.99"),
                total_price=Decimal("4.29"), lines=[OrderLine(order_line_id="L", offer_sku="MB-1", quantity=3,
                                                              unit_price=Decimal("1.2345"), price=Decimal("3.70"),
                                                              marketplace_state="SHIPPING")]))
        with db.session() as session:
            new = session.query(MarketplaceOrder).filter_by(order_id="O-new").one()
            assert (new.subtotal, new.total_price, new.lines[0].unit_price) == (
                Decimal("0.30"), Decimal("4.29"), Decimal("1.2345"))
        with db.engine.begin() as conn:  # the database's own ON DELETE CASCADE, not the ORM's
            conn.execute(text("DELETE FROM marketplace_orders WHERE id = 1"))
            assert conn.execute(text("SELECT COUNT(*) FROM order_lines WHERE order_pk = 1")).scalar_one() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM order_lines")).scalar_one() == 13
    finally:
        db.dispose()

    command.downgrade(alembic_config(db_url), "0010_personal_data")
    assert current(db_url) == "0010_personal_data"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert all(isinstance(c["type"], Float) for c in inspect(conn).get_columns("order_lines")
                   if c["name"] in ("unit_price", "price", "shipping_price"))
        row = conn.execute(text("SELECT subtotal, shipping_price, total_price FROM marketplace_orders WHERE id = 2"
                                )).one()
        assert [type(v) for v in row] == [float, float, float] and tuple(row) == (0.0, 0.0, 0.0)
        row = conn.execute(text("SELECT subtotal, shipping_price, total_price FROM marketplace_orders WHERE id = 3"
                                )).one()
        assert tuple(row) == (-4.99, 2.68, 9999999999.99)
        assert conn.execute(text("SELECT unit_price FROM order_lines WHERE id = :id"), {"id": _line_id(2, 1)}).scalar_one() == 3.3333
    engine.dispose()


def test_the_order_feed_migration_adds_its_tables_and_takes_them_away_again(db_url):
    """0012 only adds the feed's three tables: a downgrade removes them and leaves the rest."""
    from alembic import command
    from sqlalchemy import inspect

    from marketbridge.adapters.db.migrate import alembic_config

    feed_tables = {"order_feed_mirror", "order_feed_events", "order_feed_state"}
    upgrade(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert feed_tables <= set(inspect(conn).get_table_names())
    command.downgrade(alembic_config(db_url), "0011_money_decimal")
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert not feed_tables & tables and "marketplace_orders" in tables
    upgrade(db_url)
    with engine.connect() as conn:
        assert feed_tables <= set(inspect(conn).get_table_names())
    engine.dispose()
