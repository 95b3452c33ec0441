"""The refunds flow's decisions on in-memory fakes of its ports (issue 18 item 2): storage
(``RefundsStore``), Adobe Commerce and Mirakl. No database (``runtime.db`` fails the test if
touched), no HTTP: how a credit memo is recorded (poll, webhook), planned or held, sent once (a
refusal, a 429 and an ambiguous answer each), followed to REFUNDED, and what a person's retry and
the read views see. The same paths against SQLite/PostgreSQL and the sandboxes stay in
tests/integration/test_refunds_*.py and tests/e2e/test_refunds_e2e.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from marketbridge import ports
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited, Rejected, ServerError
from marketbridge.bus import MessageBus
from marketbridge.domain import refunds as refunds_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime
from marketbridge.services import refunds
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.refunds import reading
from marketbridge.services.refunds.states import CURSOR_CREDITMEMOS, CURSOR_MARKETPLACE_REFUNDS, MIRROR_MARKER
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import NoDatabase
from tests.fakes_refunds import (
    FakeRefundsMagento,
    FakeRefundsMirakl,
    FakeRefundsRepository,
    FakeRefundsStore,
    FakeSkuLinks,
)

ORDER = "JL-2001-A"


class Flow:
    """One runtime whose ports are fakes (``runtime.db`` and the shipments store fail if used)."""

    def __init__(self, **settings: object) -> None:
        self.store = FakeRefundsStore()
        self.magento = FakeRefundsMagento()
        self.mirakl = FakeRefundsMirakl()
        self.runtime = Runtime(
            settings=load_settings(database_url="sqlite://", session_secret="x" * 48, **settings),
            db=NoDatabase(), bus=MessageBus(), engine=NoDatabase(), webhook_handlers=WebhookHandlers(),
            flow_actions=FlowActions(), shipments_store=NoDatabase(), refunds_store=self.store,
            catalogue_store=NoDatabase(), audit_store=NoDatabase(), orders_store=NoDatabase(),
            people_store=NoDatabase(), alerts_store=NoDatabase(),
            console_store=NoDatabase(), order_feed_store=NoDatabase())
        self.runtime.magento = self.magento  # type: ignore[assignment]
        self.runtime.mirakl = self.mirakl  # type: ignore[assignment]

    def memo(self, memo_id: int = 5, *, order: str | None = ORDER, comment: str = "", on_marketplace: bool = True) -> None:
        """A credit memo in Adobe Commerce, of a marketplace order (``order``), already recorded."""
        self.magento.add(memo_id, memo_id * 10, order, comment=comment)
        if order and on_marketplace and order not in self.mirakl.orders:
            self.mirakl.add_order(order)
        refunds.record_creditmemo(self.runtime, memo_id)

    def planned(self, memo_id: int = 5) -> None:
        self.memo(memo_id)
        assert refunds.prepare(self.runtime, memo_id).status == refunds.PLANNED


def test_a_memo_is_recorded_once() -> None:
    flow = Flow()
    assert refunds.record_creditmemo(flow.runtime, 7, source="manual") is True
    assert refunds.record_creditmemo(flow.runtime, 7) is False
    assert list(flow.store.memos) == [7]
    assert (flow.store.memos[7].status, flow.store.memos[7].source) == (refunds.NEW, "manual")


def test_the_webhook_stores_the_memo_in_the_callers_unit_of_work() -> None:
    flow = Flow()
    repo = FakeRefundsRepository(flow.store)
    refunds.on_creditmemo_event(repo, "observer.sales_order_creditmemo_save_after", {"creditmemo": {"entity_id": "9"}})
    refunds.on_creditmemo_event(repo, "observer.sales_order_creditmemo_save_after", {"creditmemo": {"entity_id": 9}})
    refunds.on_creditmemo_event(repo, "observer.sales_order_creditmemo_save_after", {"other": 1})
    assert list(flow.store.memos) == [9]
    assert flow.store.memos[9].source == "webhook"
    assert flow.store.units == 0  # the dispatcher's transaction, not one of its own


def test_the_poll_records_new_memos_and_moves_its_cursor_forward_only() -> None:
    flow = Flow()
    for memo_id in (3, 4, 6):
        flow.magento.add(memo_id, memo_id * 10, ORDER)
    flow.store.cursors[CURSOR_CREDITMEMOS] = "3"
    assert refunds.poll_creditmemos(flow.runtime) == [4, 6]
    assert flow.store.cursors[CURSOR_CREDITMEMOS] == "6"
    assert sorted(flow.store.memos) == [4, 6]
    assert refunds.poll_creditmemos(flow.runtime) == []
    assert flow.store.cursors[CURSOR_CREDITMEMOS] == "6"


def test_a_stalled_memo_gets_a_new_workflow_round() -> None:
    flow = Flow(refund_stall_minutes=30)
    flow.store.add_memo(1, status=refunds.PLANNED, updated_at=utcnow() - dt.timedelta(hours=2))
    flow.store.add_memo(2, status=refunds.SENDING, updated_at=utcnow())
    flow.store.add_memo(3, status=refunds.SENT)
    pending = {memo.creditmemo_id: memo.workflow_id for memo in refunds.pending_creditmemos(flow.runtime)}
    assert pending == {1: "creditmemo:1:r1", 2: "creditmemo:2"}
    assert flow.store.memos[1].workflow_round == 1


def test_a_memo_of_a_marketplace_order_is_planned_and_its_problems_cleared() -> None:
    flow = Flow()
    flow.memo(5)
    flow.store.issues.record(IssueReport(type=refunds_domain.REFUND_NOT_SENT, object_id="creditmemo:CM5",
                                         message="an earlier attempt was held"))
    outcome = refunds.prepare(flow.runtime, 5)
    row = flow.store.memos[5]
    assert outcome.status == refunds.PLANNED and outcome.order_id == ORDER
    assert row.status == refunds.PLANNED and row.order_id == ORDER and row.creditmemo_increment_id == "CM5"
    assert [line["line_id"] for line in row.lines] == [f"{ORDER}-1"]
    assert row.total == refunds_domain.from_pence(sum(int(line["item_amount"]) + int(line["adjustment"])
                                                      + int(line["shipping_amount"]) for line in row.lines))
    assert outcome.total == str(row.total)
    assert flow.store.issues.active(refunds_domain.REFUND_NOT_SENT, "creditmemo:CM5") is None  # cleared


class FeedOrders:
    """The refunds flow's ``FollowedOrders`` as the order feed's mirror: it has read the marketplace
    at ``last_read`` (our clock), and its next read is due in 42 s."""

    reads_live = False

    def __init__(self, last_read: dt.datetime | None, next_read_in: float | None = 42.0) -> None:
        self.last_read = last_read
        self.next_read = next_read_in

    def read_since(self, moment: dt.datetime) -> bool:
        return self.last_read is not None and self.last_read >= moment

    def next_read_in(self, now: dt.datetime) -> float | None:
        return self.next_read

    def by_ids(self, order_ids: object) -> list[object]:
        return []

    def updated_since(self, since: dt.datetime, now: dt.datetime) -> tuple[list[object], None]:
        return [], None


MEMO_MADE = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # FakeRefundsMagento's memos' created_at


def feed_flow(last_read: dt.datetime | None, next_read_in: float | None = 42.0) -> tuple[Flow, list[str]]:
    """A flow with the order feed on, and the list of orders it read live (OR11 by id)."""
    flow = Flow(order_feed_enabled=True)
    flow.runtime.refund_orders = FeedOrders(last_read, next_read_in)  # type: ignore[assignment]
    live: list[str] = []
    read = flow.mirakl.get_order

    def get_order(order_id: str) -> object:
        live.append(order_id)
        return read(order_id)

    flow.mirakl.get_order = get_order  # type: ignore[method-assign]
    return flow, live


@pytest.mark.parametrize("last_read", [None, MEMO_MADE - dt.timedelta(seconds=1), MEMO_MADE + dt.timedelta(seconds=3)])
def test_with_the_order_feed_on_a_memo_waits_for_a_read_made_after_it(last_read) -> None:
    """A copy of the order older than the memo showed a line SHIPPING ten seconds after it shipped
    (the full soak held that memo). No read yet, a read before the memo, or one within the clock
    margin: wait for the feed's next read, read nothing live, leave the memo new."""
    flow, live = feed_flow(last_read)
    flow.memo(5)
    outcome = refunds.prepare(flow.runtime, 5)
    assert (outcome.status, outcome.retry_after, outcome.order_id) == (refunds.WAIT, 42.0, ORDER)
    assert live == [] and flow.store.memos[5].status == refunds.NEW


def test_with_the_order_feed_on_a_memo_is_planned_on_the_stored_order_without_or11() -> None:
    """Found by the real-limit burst: planning read OR11 by id for each credit memo (7 of 12 reads
    in 11.6 minutes), and the feed waited behind them."""
    flow, live = feed_flow(MEMO_MADE + dt.timedelta(seconds=30))
    flow.memo(5)
    stored = flow.mirakl.orders.pop(ORDER)  # the marketplace answers no OR11 now: only the stored copy
    flow.store.orders.payloads[ORDER] = stored.model_dump(mode="json")
    outcome = refunds.prepare(flow.runtime, 5)
    assert outcome.status == refunds.PLANNED and [line["line_id"] for line in flow.store.memos[5].lines] == [f"{ORDER}-1"]
    assert live == []
    flow.memo(6, order="JL-2002-A")  # an order the orders flow does not hold: OR11 as before
    assert refunds.prepare(flow.runtime, 6).status == refunds.PLANNED
    assert live == ["JL-2002-A"]


def test_a_hold_the_stored_copy_would_make_is_decided_on_a_live_read() -> None:
    """The stored copy predates our shipment confirmation (OR24 after the feed's read): it shows the
    line SHIPPING, which the rules would hold as "cancel, not refund". The live order is SHIPPED."""
    flow, live = feed_flow(MEMO_MADE + dt.timedelta(seconds=30))
    flow.memo(5)
    flow.store.orders.payloads[ORDER] = flow.mirakl.orders[ORDER].model_dump(mode="json")
    for line in flow.store.orders.payloads[ORDER]["order_lines"]:
        line["order_line_state"] = "SHIPPING"
    flow.store.orders.payloads[ORDER]["order_state"] = "SHIPPING"
    assert refunds.prepare(flow.runtime, 5).status == refunds.PLANNED
    assert live == [ORDER]
    # and a hold the live order confirms is made
    flow, live = feed_flow(MEMO_MADE + dt.timedelta(seconds=30))
    flow.memo(7, order="JL-2003-A", on_marketplace=False)
    flow.mirakl.add_order("JL-2003-A", state="SHIPPING")
    flow.store.orders.payloads["JL-2003-A"] = flow.mirakl.orders["JL-2003-A"].model_dump(mode="json")
    assert refunds.prepare(flow.runtime, 7).status == refunds.HELD
    assert live == ["JL-2003-A"]


def test_a_memo_is_not_held_waiting_for_a_feed_that_is_not_reading() -> None:
    """The feed's schedule is off or stuck (no read is coming): plan on a live read at once."""
    flow, live = feed_flow(None, next_read_in=None)
    flow.memo(5)
    assert refunds.prepare(flow.runtime, 5).status == refunds.PLANNED
    assert live == [ORDER]


def test_a_person_processing_a_memo_plans_it_live_and_never_waits_for_the_feed() -> None:
    flow, live = feed_flow(None)
    flow.memo(5)
    assert refunds.process(flow.runtime, 5).status == refunds.SENT
    assert live == [ORDER]


def test_memos_that_are_not_refunds_to_send_are_ignored() -> None:
    flow = Flow()
    flow.memo(1, order=None)
    flow.memo(2, comment=f"{MIRROR_MARKER} R-77")
    FakeRefundsRepository(flow.store).add_marketplace_refund(
        refund_id="R-77", order_id=ORDER, order_line_id="L", origin="marketplace", state="REFUNDED")
    assert refunds.prepare(flow.runtime, 1).status == refunds.IGNORED
    assert "not a marketplace order" in flow.store.memos[1].problem
    assert refunds.prepare(flow.runtime, 2).status == refunds.IGNORED
    assert flow.store.ledger["R-77"].creditmemo_id == 2  # the mirror is linked to its refund
    flow.store.add_memo(3)
    assert refunds.prepare(flow.runtime, 3).status == refunds.IGNORED  # gone from Adobe Commerce
    assert "no longer exists" in flow.store.memos[3].problem
    assert flow.mirakl.refunds == []


def test_a_memo_for_an_order_the_marketplace_does_not_know_is_held_for_finance() -> None:
    flow = Flow()
    flow.memo(5, on_marketplace=False)
    outcome = refunds.prepare(flow.runtime, 5)
    assert outcome.status == refunds.HELD
    issue = flow.store.issues.active(refunds_domain.REFUND_ORDER_UNKNOWN, "creditmemo:CM5")
    assert issue is not None and ORDER in issue.message
    assert refunds.send(flow.runtime, 5).status == refunds.HELD  # a held memo is never sent
    assert flow.mirakl.refunds == []


def test_a_reason_the_shop_may_not_use_holds_the_memo() -> None:
    flow = Flow()
    flow.store.add_reason("OTHER", is_shop_right=True)
    flow.memo(5)
    assert refunds.prepare(flow.runtime, 5).status == refunds.HELD
    assert "reason code" in flow.store.memos[5].problem


def test_send_refunds_once_and_writes_the_ledger() -> None:
    flow = Flow()
    flow.planned(5)
    outcome = refunds.send(flow.runtime, 5)
    assert outcome.status == refunds.SENT and outcome.refund_ids == ("R1-1",)
    row = flow.store.memos[5]
    assert (row.attempts, row.in_flight, row.refund_ids) == (1, False, ["R1-1"])
    assert flow.store.ledger["R1-1"].creditmemo_id == 5 and flow.store.ledger["R1-1"].origin == "creditmemo"
    assert flow.store.claims == [(5, 0)]
    again = refunds.send(flow.runtime, 5)
    assert again.status == refunds.SENT and len(flow.mirakl.refunds) == 1  # never doubled


def test_a_refusal_holds_the_memo_with_the_reason_in_plain_english() -> None:
    flow = Flow()
    flow.planned(5)
    flow.mirakl.fail_with = Rejected("The order is closed", status=400)
    outcome = refunds.send(flow.runtime, 5)
    assert outcome.status == refunds.HELD
    issue = flow.store.issues.active(refunds_domain.REFUND_REFUSED, "creditmemo:CM5")
    assert issue is not None and "the order is closed" in issue.message
    assert flow.store.memos[5].in_flight is False


def test_a_429_puts_the_memo_back_to_planned() -> None:
    flow = Flow()
    flow.planned(5)
    flow.mirakl.fail_with = RateLimited("slow down", retry_after=3.0)
    outcome = refunds.send(flow.runtime, 5)
    assert (outcome.status, outcome.retry_after) == ("retry", 3.0)
    assert flow.store.memos[5].status == refunds.PLANNED


def test_after_an_ambiguous_answer_the_refund_on_the_marketplace_is_adopted_not_sent_again() -> None:
    flow = Flow(mirakl_timeout_seconds=1)
    flow.planned(5)
    line = flow.store.memos[5].lines[0]
    flow.mirakl.fail_with = ServerError("502 from the marketplace", status=502)
    assert refunds.send(flow.runtime, 5).status == "retry"
    row = flow.store.memos[5]
    assert row.status == refunds.SENDING and row.in_flight is False
    # the call had reached Mirakl: the refund is there
    amount = str(refunds_domain.from_pence(int(line["item_amount"]) + int(line["adjustment"])))
    flow.mirakl.add_order(ORDER, refunds=[{
        "id": "MR-1", "amount": amount, "shipping_amount": 0, "quantity": line["quantity"],
        "reason_code": line["reason_code"], "state": "WAITING_REFUND", "created_date": utcnow().isoformat()}])
    flow.mirakl.fail_with = None
    outcome = refunds.send(flow.runtime, 5)
    assert outcome.status == refunds.SENT and outcome.refund_ids == ("MR-1",)
    assert flow.mirakl.refunds == []  # adopted: OR28 was not called again
    assert flow.store.ledger["MR-1"].creditmemo_id == 5


def test_follow_completes_our_memo_records_foreign_refunds_and_moves_the_order() -> None:
    flow = Flow()
    flow.planned(5)
    refunds.send(flow.runtime, 5)
    flow.store.orders.known.add(ORDER)
    flow.mirakl.add_order(ORDER, fully_refunded=True, refunds=[
        {"id": "R1-1", "amount": 12, "state": "REFUNDED"},
        {"id": "OP-9", "amount": 3, "reason_code": "34", "state": "REFUNDED"}])
    counts = refunds.follow(flow.runtime)
    assert (counts.updated, counts.foreign, counts.completed) == (1, 1, 1)
    assert flow.store.memos[5].status == refunds.REFUNDED
    assert flow.store.ledger["OP-9"].origin == "marketplace"
    issue = flow.store.issues.active(refunds_domain.MARKETPLACE_REFUND, "refund:OP-9")
    assert issue is not None and "without a credit memo from us" in issue.message
    assert flow.store.orders.refunded[ORDER]["source"] == "marketplace fully_refunded"
    assert flow.store.cursors[CURSOR_MARKETPLACE_REFUNDS].startswith("2026-12-01")


def test_follow_leaves_unknown_refunds_to_a_send_in_progress() -> None:
    flow = Flow()
    flow.store.add_memo(5, status=refunds.SENDING, order_id=ORDER)
    flow.mirakl.add_order(ORDER, refunds=[{"id": "X-1", "amount": 12, "state": "WAITING_REFUND"}])
    counts = refunds.observe_orders(flow.runtime, flow.mirakl.orders.values())
    assert counts.foreign == 0 and "X-1" not in flow.store.ledger


def test_a_person_retries_a_held_memo_and_the_views_show_it() -> None:
    flow = Flow()
    flow.memo(5, on_marketplace=False)
    refunds.prepare(flow.runtime, 5)
    retried = refunds.request_retry(flow.runtime, "CM5", actor="ana")
    assert retried.workflow_id == "creditmemo:5:r1" and flow.store.memos[5].status == refunds.NEW
    assert flow.store.issues.activity[-1]["action"] == "refunds.retry"
    with pytest.raises(refunds.RefundActionError):
        refunds.request_retry(flow.runtime, "5", actor="ana")
    with pytest.raises(LookupError):
        refunds.request_retry(flow.runtime, "404", actor="ana")
    repo = FakeRefundsRepository(flow.store)
    assert [view.creditmemo_id for view in refunds.list_refunds(repo, status=refunds.NEW)] == [5]
    assert refunds.list_refunds(repo, status=refunds.SENT) == []
    assert reading.counts_by_status(repo) == [(refunds.NEW, 1)]
    detail = refunds.show(repo, "5")
    assert detail is not None and detail.model_dump()["creditmemo_increment_id"] == "CM5"
    assert refunds.show(repo, "nothing") is None


def test_reasons_are_cached_and_the_mapping_checked_against_them() -> None:
    flow = Flow()
    flow.store.add_reason("OLD", is_shop_right=False)
    table = refunds.reason_table(flow.runtime)
    assert table.default.check in ("not a John Lewis refund reason", "operator only: the shop may not use it", "ok")
    assert [r.code for r in table.marketplace_reasons] == ["OLD"]


@pytest.mark.parametrize(("port", "fake"), [
    (ports.RefundsStore, FakeRefundsStore), (ports.RefundsRepository, FakeRefundsRepository),
    (ports.SkuLinks, FakeSkuLinks)])
def test_each_refunds_storage_fake_has_every_member_of_its_port(port: type, fake: type) -> None:
    """mypy proves the SQLAlchemy store fits the ports; this keeps the fakes whole as the ports grow."""
    members = {name for name in vars(port) if not name.startswith("_")}
    assert members and {name for name in members if not hasattr(fake, name)} == set()
