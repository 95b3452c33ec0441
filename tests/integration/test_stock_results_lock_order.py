"""Writing an import's per-SKU results locks the state rows in SKU order before updating them.

Scale-out soak on PostgreSQL: ``stock.follow`` died as a deadlock victim ("while updating tuple
in relation sku_states"). Its updates go in groups (one per set of columns: ok, error, newer
value queued), so rows were locked in group order, while a refresh pass locks them in SKU order."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from marketbridge.adapters.db.models.stock import SkuState
from marketbridge.domain.stock import Kind
from marketbridge.services.stock import outbox
from marketbridge.services.stock.results import _write_results


def test_results_lock_every_state_row_in_sku_order_before_the_first_update(runtime):
    skus = ["MB-C", "MB-A", "MB-E", "MB-B", "MB-D"]
    with runtime.db.session() as session:
        session.add_all([SkuState(sku=sku) for sku in skus])
    now = dt.datetime.now(dt.UTC)
    # Failed and ok lines make two update groups, in an order that is not the SKU order.
    rows = [outbox.InflightRow(Kind.STOCK, sku, "5", now, now) for sku in skus]
    failed = {"MB-A": "refused", "MB-D": "refused"}
    statements: list[tuple[str, list]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):  # noqa: ANN001
        text = " ".join(statement.split()).lower()
        if "sku_states" in text:
            statements.append((text, list(parameters) if executemany else [parameters]))

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        with runtime.db.session() as session:
            _write_results(session, rows, failed, 1, "import-1", now)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)
    first, params = statements[0]
    assert first.startswith("select") and "order by sku_states.sku" in first, statements[0]
    if runtime.db.engine.dialect.name == "postgresql":
        assert "for update" in first
    flat = [v for p in params for v in (p.values() if isinstance(p, dict) else p)]
    assert [v for v in flat if isinstance(v, str)] == sorted(skus)
    assert all(text.startswith("update") for text, _ in statements[1:])
    with runtime.db.session() as session:
        assert {s.sku: s.stock_result for s in session.query(SkuState)} == {
            "MB-A": "error", "MB-B": "ok", "MB-C": "ok", "MB-D": "error", "MB-E": "ok"}
