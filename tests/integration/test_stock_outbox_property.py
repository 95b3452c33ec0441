"""Property: for any interleaving of changes, pushes, failed imports and crashes, once the queue
drains the marketplace shows exactly the rules applied to the last Magento salable quantity.

The real outbox, rules, apply and result code run on a real SQLite database; only the two remote
systems are replaced by dictionaries (what Magento says, what the marketplace shows), because the
property is about our bookkeeping, not about HTTP.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from marketbridge.adapters.db.migrate import upgrade
from marketbridge.adapters.db.models import stock as stock_models
from marketbridge.adapters.db.models.core import IssueRecord
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.stock import Kind, ProductFacts, Scope, publishable_quantity
from marketbridge.services.stock import apply as stock_apply
from marketbridge.services.stock import outbox
from marketbridge.services.stock import results as stock_results
from marketbridge.services.stock.rules import load_rules, put_rule
from tests.conftest import make_settings

SKUS = ["A", "B", "C"]
_DIR = Path(tempfile.mkdtemp(prefix="mb-stock-prop-"))
_URL = f"sqlite:///{_DIR / 'prop.sqlite'}"
upgrade(_URL)
RUNTIME = build_runtime(make_settings(_URL, price_sync_enabled=False))

change = st.tuples(st.just("change"), st.sampled_from(SKUS), st.integers(0, 40))
ops = st.lists(st.one_of(change, st.sampled_from([("claim",), ("succeed",), ("fail",), ("crash_and_resume",)])),
               max_size=40)


def reset() -> None:
    with RUNTIME.db.session() as session:
        for model in (stock_models.SyncOutbox, stock_models.SyncBatch, stock_models.SyncLane, stock_models.SkuState,
                      stock_models.StockHint, stock_models.StockRule, IssueRecord):
            session.execute(delete(model))
        put_rule(session, Kind.STOCK, Scope.GLOBAL, "", {"buffer": 2, "max_quantity": 30}, actor="test")
        put_rule(session, Kind.STOCK, Scope.SKU, "B", {"allocation_percent": 50}, actor="test")


def notice(sku: str, salable: int) -> None:
    reading = stock_apply.Reading(sku=sku, salable=float(salable), stock_read=True, product=stock_apply.reading.ProductRead(
        sku=sku, enabled=True, type_id="simple", price="10", special_price=None, special_from=None, special_to=None))
    with RUNTIME.db.session() as session:
        stock_apply.apply_readings(session, RUNTIME.settings, [reading], {})


def claim() -> int | None:
    with RUNTIME.db.session() as session:
        return outbox.claim(session, "STO01", [Kind.STOCK], interval_seconds=0)


def succeed(batch_id: int, marketplace: dict[str, int]) -> None:
    """What upload + follow do when Mirakl accepts every line (import id checkpointed first)."""
    with RUNTIME.db.session() as session:
        values = outbox.batch_values(session, batch_id)
        batch = session.get(stock_models.SyncBatch, batch_id)
        if batch.state == "claimed":
            outbox.mark_sent(session, batch_id, f"imp-{batch_id}")
    for sku, value in values.items():
        marketplace[sku] = int(value["quantity"])
    stock_results.record_results(RUNTIME, batch_id, "STO01", f"imp-{batch_id}", "COMPLETE", {})


def fail(batch_id: int) -> None:
    with RUNTIME.db.session() as session:
        outbox.release(session, batch_id, "import FAILED")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_once_drained_the_marketplace_shows_the_rules_applied_to_the_last_salable_quantity(operations):
    reset()
    magento: dict[str, int] = {}
    marketplace: dict[str, int] = {}
    in_flight: int | None = None
    for op in operations:
        if op[0] == "change":
            magento[op[1]] = op[2]
            notice(op[1], op[2])
        elif op[0] == "claim" and in_flight is None:
            in_flight = claim()
        elif op[0] == "succeed" and in_flight is not None:
            succeed(in_flight, marketplace)
            in_flight = None
        elif op[0] == "fail" and in_flight is not None:
            fail(in_flight)
            in_flight = None
        elif op[0] == "crash_and_resume":
            # kill -9: our in-memory knowledge is gone; the next tick finds the batch in flight again
            in_flight = claim()
    # drain: the recovered/next windows run until nothing is pending or in flight
    for _ in range(10):
        batch_id = claim()
        if batch_id is None:
            break
        succeed(batch_id, marketplace)
    with RUNTIME.db.session() as session:
        assert outbox.pending_count(session) == 0 and outbox.inflight_count(session) == 0
        rules = load_rules(session)
    for sku, salable in magento.items():
        expected, _ = publishable_quantity(salable, ProductFacts(sku=sku), rules)
        assert marketplace.get(sku, None) == expected or (sku not in marketplace and expected is None), (
            sku, salable, marketplace, magento)


def test_a_result_landing_while_a_read_is_in_progress_is_not_undone(monkeypatch):
    """Found by the full soak: a read writes its rows back from the snapshot it loaded first; when an
    import's result landed in between, the write-back restored the old published value, a later
    reading equal to that old value was taken for "already sent", and the offer kept the newer one
    (0 on the marketplace, 9 in Magento) with nothing left to correct it."""
    reset()
    marketplace: dict[str, int] = {}
    notice("A", 20)  # global rule: buffer 2 -> 18
    succeed(claim(), marketplace)
    notice("A", 10)  # -> 8
    batch_id = claim()
    with RUNTIME.db.session() as session:
        snapshot = stock_apply._load_states(session, ["A"])  # a read starts: published 18
    succeed(batch_id, marketplace)  # the result of 8 lands meanwhile
    assert marketplace["A"] == 8
    monkeypatch.setattr(stock_apply, "_load_states", lambda session, skus, columns=None: {
        sku: dict(row) for sku, row in snapshot.items() if sku in skus})
    notice("A", 10)  # the read ends and writes its rows
    monkeypatch.undo()
    with RUNTIME.db.session() as session:
        state = session.get(stock_models.SkuState, "A")
        assert state.published_qty == 8  # the confirmed value stays (the stale read may queue 8 once more)

    notice("A", 20)  # back to 18: differs from what the marketplace shows, so it must be sent
    batch_id = claim()
    assert batch_id is not None
    succeed(batch_id, marketplace)
    assert marketplace["A"] == 18
