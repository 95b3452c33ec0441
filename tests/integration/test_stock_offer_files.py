"""Issue 14 item 4: with stock and prices both on the OF01 lane, no offer file carries a blank cell
in a column the SKU did not change (NORMAL mode applies blanks). Against both sandboxes over real
HTTP with a real database; every OF01 file the Mirakl sandbox received is inspected."""

from __future__ import annotations

import httpx2
import pytest

from marketbridge.bootstrap import build_runtime
from marketbridge.services.stock import outbox
from marketbridge.services.stock import poll as stock_poll
from marketbridge.services.stock import push as stock_push
from tests.conftest import make_settings
from tests.integration.test_stock_sync import offer, set_stock, simple_on_marketplace


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    runtime = build_runtime(make_settings(migrated_db_url, fresh_sandboxes, stock_import_api="OF01",
                                          price_import_api="OF01"))
    yield runtime
    runtime.close()


def of01_files(boxes) -> list[tuple[list[str], list[dict[str, str]]]]:
    state = boxes.mirakl_app.state.sandbox
    return [(job.header, job.rows) for job in sorted(state.imports.values(), key=lambda j: j.created)
            if job.api == "OF01"]


def test_a_shared_offer_file_never_sends_a_blank_price_or_quantity(rt, fresh_sandboxes) -> None:
    boxes = fresh_sandboxes
    stock_poll.full_resync(rt)
    stock_push.push_now(rt)
    first = len(of01_files(boxes))
    a, b = simple_on_marketplace(boxes)[:2]
    price_a, qty_b = offer(boxes, a)["price"], offer(boxes, b)["quantity"]

    set_stock(boxes, a, 37)  # A: stock only
    response = httpx2.put(f"{boxes.magento_url}/rest/V1/products/{b}", json={"product": {"sku": b, "price": 99.5}},
                          headers={"Authorization": "Bearer sandbox-magento-token"})
    assert response.status_code == 200, response.text  # B: price only
    with rt.db.session() as session:
        outbox.note_hints(session, [a], reason="test")
        outbox.note_hints(session, [b], stock=False, price=True, reason="test")
    stock_push.push_now(rt)

    files = of01_files(boxes)
    assert len(files) > first
    for header, rows in files:
        for row in rows:
            blank = [c for c in header if c != "update-delete" and not (row.get(c) or "").strip()]
            assert not blank, (header, row)
    mixed = files[first:]
    assert any(row["sku"] == a for _, rows in mixed for row in rows)
    assert any(row["sku"] == b for _, rows in mixed for row in rows)
    assert offer(boxes, a)["quantity"] == 37 and offer(boxes, a)["price"] == price_a
    assert offer(boxes, b)["price"] == 99.5 and offer(boxes, b)["quantity"] == qty_b


def test_a_held_back_sku_leaves_the_batch_and_waits_for_the_next_window(rt) -> None:
    import datetime as dt

    from marketbridge.domain.stock import Kind

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC).replace(tzinfo=None)
    with rt.db.session() as session:
        outbox.enqueue(session, [outbox.Change(Kind.STOCK, "A", "5", now), outbox.Change(Kind.PRICE, "B", "9.99", now)])
    with rt.db.session() as session:
        batch_id = outbox.claim(session, "OF01", [Kind.STOCK, Kind.PRICE], interval_seconds=60)
        assert batch_id is not None
    with rt.db.session() as session:
        assert outbox.store(session).requeue_skus(batch_id, ["A"]) == 1
    with rt.db.session() as session:
        assert outbox.batch_values(session, batch_id) == {"B": {"price": "9.99"}}
        assert outbox.pending_keys(session, ["A", "B"]) == {("stock", "A")}
