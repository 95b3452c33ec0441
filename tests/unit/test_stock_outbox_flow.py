"""The rules of the stock flow's durable outbox (``services.stock.outbox``) on an in-memory fake of
its port (tests/fakes_stock.py): no database. Hints merge and are deleted only with their own token;
values to publish are newest-wins and never dropped while a batch is in flight; a lane holds one
batch at a time and one upload per window; a failed batch gives its values back. The SQL side (the
same rules on PostgreSQL / SQLite, and the races between processes) is pinned by
tests/integration/test_stock_sync.py, test_stock_in_flight.py and test_stock_outbox_property.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from marketbridge.adapters.db.stock import SqlStockRepository
from marketbridge.domain.stock import Kind
from marketbridge.ports.stock import StockOutboxRepository
from marketbridge.services.stock import outbox
from tests.fakes_stock import FakeStockRepository, FakeStockStore

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
STOCK = [Kind.STOCK]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def queued(repo: FakeStockRepository, *values: tuple[str, str], kind: Kind = Kind.STOCK, read_at: dt.datetime = T0,
           noticed: dt.datetime = T0) -> None:
    """Enqueue ``(sku, value)`` pairs of ``kind``, read at ``read_at``."""
    outbox.enqueue(repo, [outbox.Change(kind, sku, value, noticed) for sku, value in values], read_at=read_at)


# --------------------------------------------------------------------------- the port and the fake
def test_the_services_act_on_a_repository_handed_in_and_wrap_a_bare_session() -> None:
    repo = FakeStockRepository()
    assert outbox.store(repo) is repo
    assert isinstance(outbox.store(Session()), SqlStockRepository)  # an unbound session: nothing is run


def test_the_fake_answers_every_question_of_the_outbox_port() -> None:
    asked = {name for name in vars(StockOutboxRepository) if not name.startswith("_")}
    assert asked and asked <= set(dir(FakeStockRepository)), sorted(asked - set(dir(FakeStockRepository)))


# --------------------------------------------------------------------------- hints
def test_a_hint_noticed_again_merges_its_flags_keeps_its_first_notice_and_takes_the_new_token() -> None:
    repo = FakeStockRepository()
    assert outbox.note_hints(repo, ["MB-1"], reason="webhook", noticed_at=at(0)) == 1
    first = repo.hint("MB-1")
    assert first is not None
    token = first.token
    outbox.note_hints(repo, ["MB-1"], stock=False, price=True, exact=True, reason="poll", noticed_at=at(30))
    hint = repo.hint("MB-1")
    assert hint is not None and repo.hint_count() == 1
    assert (hint.stock, hint.price, hint.details, hint.exact, hint.force) == (True, True, False, True, False)
    assert hint.first_noticed_at == at(0) and hint.touched_at == at(30)
    assert hint.token != token and hint.reason == "poll"


def test_hint_groups_are_one_write_in_sku_order_with_a_skus_flags_together() -> None:
    """As tests/integration/test_stock_in_flight.py pins on the database: a SKU in several groups gets
    their flags together and the first group's reason, and every row goes in one sorted write."""
    repo = FakeStockRepository()
    written = outbox.note_hint_groups(repo, [
        outbox.HintGroup(("MB-C", "MB-A"), reason="poll:source-items"),
        outbox.HintGroup(("MB-B", "MB-A"), exact=True, reason="poll:orders"),
        outbox.HintGroup(("MB-D",), price=True, details=True, reason="poll:products"),
    ], noticed_at=T0)
    assert written == 4
    assert repo.store.hint_writes == [["MB-A", "MB-B", "MB-C", "MB-D"]]
    hints = {sku: (h.stock, h.exact, h.price, h.reason) for sku, h in repo.store.hints.items()}
    assert hints == {"MB-A": (True, True, False, "poll:source-items"), "MB-B": (True, True, False, "poll:orders"),
                     "MB-C": (True, False, False, "poll:source-items"), "MB-D": (True, False, True, "poll:products")}
    assert len({h.token for h in repo.store.hints.values()}) == 1  # one notice, one token
    outbox.note_hint_groups(repo, [outbox.HintGroup(("MB-E",), price=True, reason="first"),
                                   outbox.HintGroup(("MB-E",), stock=False, exact=True, reason="second")])
    merged = repo.hint("MB-E")
    assert merged is not None and (merged.stock, merged.price, merged.exact, merged.reason) == (True, True, True, "first")


def test_empty_and_overlong_skus_are_not_hinted_and_nothing_left_writes_nothing() -> None:
    repo = FakeStockRepository()
    too_long = "X" * (repo.hint_sku_max + 1)
    assert outbox.note_hints(repo, ["", too_long, "MB-1"]) == 1
    assert set(repo.store.hints) == {"MB-1"}
    assert outbox.note_hints(repo, ["", too_long]) == 0
    assert repo.store.hint_writes == [["MB-1"]]


def test_hints_are_taken_oldest_first_leaving_out_the_skus_another_pass_reads() -> None:
    repo = FakeStockRepository()
    for seconds, sku in ((20, "MB-A"), (0, "MB-C"), (10, "MB-B"), (30, "MB-D")):
        outbox.note_hints(repo, [sku], noticed_at=at(seconds))
    assert [h.sku for h in outbox.take_hints(repo, 2)] == ["MB-C", "MB-B"]
    assert [h.sku for h in outbox.take_hints(repo, 2, exclude={"MB-C"})] == ["MB-B", "MB-A"]
    assert outbox.hint_count(repo) == 4  # taking is not deleting


def test_a_refresh_deletes_only_the_hints_whose_token_is_still_the_one_it_took() -> None:
    """A notice that lands while the SKU is being read keeps its new token and is read by the next
    pass, whatever time it carries (a worker's clock 10 s behind: test_stock_in_flight.py)."""
    repo = FakeStockRepository()
    outbox.note_hints(repo, ["MB-1", "MB-2"], noticed_at=at(0))
    taken = outbox.take_hints(repo, 10)
    outbox.note_hints(repo, ["MB-2"], price=True, noticed_at=at(-10))  # during the read, from a late clock
    assert outbox.delete_hints(repo, taken) == 1
    survivor = repo.hint("MB-2")
    assert set(repo.store.hints) == {"MB-2"} and survivor is not None and survivor.price
    again = outbox.take_hints(repo, 10)
    assert outbox.delete_hints(repo, again) == 1 and outbox.hint_count(repo) == 0
    assert outbox.delete_hints(repo, []) == 0


# --------------------------------------------------------------------------- values to publish
def test_enqueue_is_newest_wins_and_keeps_the_earliest_unsent_notice() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"), read_at=at(1), noticed=at(0))
    queued(repo, ("MB-1", "3"), read_at=at(61), noticed=at(60))
    row = repo.store.outbox[("stock", "MB-1")]
    assert (row.pending_value, row.pending_noticed_at, row.pending_first_noticed_at) == ("3", at(61), at(0))
    assert outbox.pending_count(repo) == 1 and outbox.pending_keys(repo, ["MB-1", "MB-2"]) == {("stock", "MB-1")}
    assert outbox.enqueue(repo, []) == 0


def test_the_last_sent_value_is_the_pending_one_else_the_one_in_flight() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"), ("MB-2", "7"))
    outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    queued(repo, ("MB-1", "4"))
    assert outbox.last_sent_values(repo, Kind.STOCK, ["MB-1", "MB-2", "MB-3"]) == {"MB-1": "4", "MB-2": "7"}
    assert outbox.last_sent_values(repo, Kind.PRICE, ["MB-1"]) == {}


# --------------------------------------------------------------------------- claiming a lane
def test_a_claim_takes_every_pending_value_of_the_lanes_kinds_into_a_new_batch() -> None:
    repo = FakeStockRepository()
    assert outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0)) is None  # nothing pending
    queued(repo, ("MB-1", "5"), ("MB-2", "0"))
    queued(repo, ("MB-1", "19.99"), kind=Kind.PRICE)
    batch_id = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert batch_id is not None
    batch = repo.batch(batch_id)
    assert batch is not None
    assert (batch.api, batch.kinds, batch.state, batch.sku_count) == ("STO01", "stock", "claimed", 2)
    assert batch.workflow_id == outbox.batch_workflow_id(batch_id)
    assert repo.store.lanes["STO01"].active_batch_id == batch_id
    assert outbox.batch_values(repo, batch_id) == {"MB-1": {"quantity": "5"}, "MB-2": {"quantity": "0"}}
    assert outbox.pending_count(repo, STOCK) == 0 and outbox.inflight_count(repo) == 2
    assert outbox.pending_count(repo, [Kind.PRICE]) == 1  # another lane's kind stays pending


def test_a_lane_with_a_batch_in_flight_answers_that_batch_and_claims_no_other() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"))
    batch_id = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert batch_id is not None
    queued(repo, ("MB-2", "8"))
    assert outbox.claim(repo, "STO01", STOCK, interval_seconds=0, now=at(600)) == batch_id
    assert len(repo.store.batches) == 1 and outbox.active_batches(repo) == [repo.batch(batch_id)]
    assert outbox.batch_values(repo, batch_id) == {"MB-1": {"quantity": "5"}}
    assert outbox.pending_keys(repo, ["MB-2"]) == {("stock", "MB-2")}


def test_a_free_lane_waits_for_its_window_counted_from_when_the_last_upload_started() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"))
    first = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert first is not None
    outbox.mark_sent(repo, first, "2041", now=at(40), window_from=at(10))
    batch = repo.batch(first)
    assert batch is not None and (batch.state, batch.import_id, batch.sent_at) == ("sent", "2041", at(40))
    outbox.complete(repo, first, import_status="COMPLETE", ok=1, errors=0, now=at(45))
    queued(repo, ("MB-1", "4"))
    assert outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(69)) is None
    assert outbox.pending_count(repo) == 1
    assert outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(70)) is not None


def test_a_failed_upload_still_counts_against_the_window() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"))
    outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))  # creates the lane
    outbox.mark_attempted(repo, "STO01", now=at(5))
    assert repo.store.lanes["STO01"].last_sent_at == at(5)


def test_a_claim_that_loses_the_lane_to_another_worker_rolls_back_and_leaves_the_values_pending() -> None:
    store = FakeStockStore()
    repo = store.repository()
    queued(repo, ("MB-1", "5"))
    repo.lane("STO01")
    store.contenders["STO01"] = 77  # another worker's conditional UPDATE wins first
    assert outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0)) is None
    assert store.rollbacks == 1 and store.batches == {}
    assert store.lanes["STO01"].active_batch_id == 77
    assert outbox.pending_count(repo) == 1 and outbox.inflight_count(repo) == 0


# --------------------------------------------------------------------------- while a batch is in flight
def test_a_value_noticed_while_a_batch_is_in_flight_waits_for_the_next_batch() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"), read_at=at(0))
    first = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert first is not None
    queued(repo, ("MB-1", "3"), read_at=at(20), noticed=at(19))
    assert outbox.batch_values(repo, first) == {"MB-1": {"quantity": "5"}}  # the batch carries what it took
    assert outbox.pending_keys(repo, ["MB-1"]) == {("stock", "MB-1")}
    outbox.mark_sent(repo, first, "1", now=at(1))
    outbox.complete(repo, first, import_status="COMPLETE", ok=1, errors=0, now=at(30))
    assert outbox.inflight_count(repo) == 0 and outbox.pending_count(repo) == 1  # never dropped
    second = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(61))
    assert second is not None and second != first
    assert outbox.batch_values(repo, second) == {"MB-1": {"quantity": "3"}}
    assert [(r.sku, r.value, r.first_noticed_at, r.read_at) for r in outbox.inflight_rows(repo, second)] == [
        ("MB-1", "3", at(19), at(20))]


def test_complete_clears_what_was_in_flight_and_frees_the_lane() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"), ("MB-2", "6"))
    batch_id = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert batch_id is not None
    outbox.complete(repo, batch_id, import_status="COMPLETE", ok=1, errors=1, now=at(90))
    batch = repo.batch(batch_id)
    assert batch is not None
    assert (batch.state, batch.import_status, batch.ok_count, batch.error_count, batch.completed_at) == (
        "complete", "COMPLETE", 1, 1, at(90))
    assert repo.store.lanes["STO01"].active_batch_id is None and outbox.active_batches(repo) == []
    assert repo.store.outbox == {} and outbox.batch_values(repo, batch_id) == {}


def test_release_gives_the_values_back_unless_a_newer_one_is_pending() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"), ("MB-2", "6"), read_at=at(1), noticed=at(0))
    batch_id = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(2))
    assert batch_id is not None
    queued(repo, ("MB-2", "9"), read_at=at(11), noticed=at(10))  # newer than what the batch carries
    assert outbox.release(repo, batch_id, "STO01 refused: HTTP 500", now=at(20)) == 1
    one, two = repo.store.outbox[("stock", "MB-1")], repo.store.outbox[("stock", "MB-2")]
    assert (one.pending_value, one.pending_noticed_at, one.pending_first_noticed_at) == ("5", at(1), at(0))
    assert two.pending_value == "9"  # newest wins
    assert outbox.inflight_count(repo) == 0 and repo.store.lanes["STO01"].active_batch_id is None
    batch = repo.batch(batch_id)
    assert batch is not None
    assert (batch.state, batch.error, batch.completed_at) == ("failed", "STO01 refused: HTTP 500", at(20))
    retry = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(120))
    assert retry is not None
    assert outbox.batch_values(repo, retry) == {"MB-1": {"quantity": "5"}, "MB-2": {"quantity": "9"}}


def test_release_of_a_closed_or_unknown_batch_changes_nothing() -> None:
    repo = FakeStockRepository()
    queued(repo, ("MB-1", "5"))
    batch_id = outbox.claim(repo, "STO01", STOCK, interval_seconds=60, now=at(0))
    assert batch_id is not None
    outbox.complete(repo, batch_id, import_status="COMPLETE", ok=1, errors=0, now=at(30))
    assert outbox.release(repo, batch_id, "late failure") == 0
    batch = repo.batch(batch_id)
    assert batch is not None and (batch.state, batch.error) == ("complete", "")
    assert outbox.release(repo, 999, "no such batch") == 0
    assert outbox.pending_count(repo) == 0


def test_a_hook_that_may_precede_the_commit_gets_one_later_second_read() -> None:
    """Issue 14: a plugin or *_save_after hook can reach us before Adobe Commerce commits, so the
    read made at once may see the old value. A SKU such a read found unchanged is read once more,
    ``webhook_recheck_seconds`` later; a SKU whose read moved, or hinted by a commit-after
    observer, is not; and the second read does not ask for a third."""
    repo = FakeStockRepository()
    outbox.note_hints(repo, ["MB-1"], reason="plugin.magento.inventory_api.api.source_items_save.execute")
    outbox.note_hints(repo, ["MB-2"], reason="observer.catalog_product_save_after")
    outbox.note_hints(repo, ["MB-3"], reason="observer.cataloginventory_stock_item_save_commit_after")
    outbox.note_hints(repo, ["MB-4"], reason="plugin.magento.inventory_api.api.source_items_save.execute")
    taken = outbox.take_hints(repo, 10)
    outbox.delete_hints(repo, taken)
    assert outbox.note_rechecks(repo, taken, unchanged={"MB-1", "MB-2", "MB-3"}) == 2
    assert sorted(repo.store.hints) == ["MB-1", "MB-2"]
    assert outbox.take_hints(repo, 10, recheck_seconds=60) == []  # not due yet
    due = outbox.take_hints(repo, 10, recheck_seconds=0)
    assert sorted(h.sku for h in due) == ["MB-1", "MB-2"] and {h.reason for h in due} == {outbox.RECHECK}
    outbox.delete_hints(repo, due)
    assert outbox.note_rechecks(repo, due, unchanged={"MB-1", "MB-2"}) == 0


def test_a_fresh_notice_is_not_held_back_behind_a_second_read() -> None:
    repo = FakeStockRepository()
    outbox.note_hints(repo, ["MB-1"], reason="plugin.magento.inventory_api.api.source_items_save.execute")
    taken = outbox.take_hints(repo, 10)
    outbox.delete_hints(repo, taken)
    outbox.note_rechecks(repo, taken, unchanged={"MB-1"})
    outbox.note_hints(repo, ["MB-1"], reason="observer.sales_order_place_after")  # a new change
    assert [h.sku for h in outbox.take_hints(repo, 10, recheck_seconds=60)] == ["MB-1"]


def test_which_hooks_may_come_before_the_commit() -> None:
    assert outbox.may_precede_commit("plugin.magento.inventory_api.api.source_items_save.execute")
    assert outbox.may_precede_commit("observer.catalog_product_save_after")
    assert outbox.may_precede_commit("observer.sales_order_place_after")
    assert not outbox.may_precede_commit("observer.catalog_product_save_commit_after")
    assert not outbox.may_precede_commit("observer.cataloginventory_stock_item_save_commit_after")
    assert not outbox.may_precede_commit(outbox.RECHECK) and not outbox.may_precede_commit("poll")
