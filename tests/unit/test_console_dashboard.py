"""Unit tests of the console's read models (``services.console.dashboard``) and of the record
look-ups of ``services.console.actions``, on the in-memory :class:`tests.fakes_console.FakeConsoleQueries`:
no database. The same reads on SQLite are in tests/integration/test_console_web.py,
test_console_health.py and test_web_hardening.py (literal search of ``%`` and ``_``)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from marketbridge.ports import ConsoleQueries, ConsoleStore
from marketbridge.services.console import actions, dashboard
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.personal_data import FAILED_LOGIN
from tests.fakes_console import SEEN, FakeConsoleQueries, FakeConsoleStore

NOW = SEEN + dt.timedelta(hours=1)


def test_the_fake_fits_the_port() -> None:
    store: ConsoleStore = FakeConsoleStore()
    queries: ConsoleQueries = store.on_session(None)  # type: ignore[arg-type]
    assert queries.cursor_moves() == []


def test_issue_lists_filter_by_state_team_type_and_search() -> None:
    q = FakeConsoleQueries()
    q.add_record("order_held", "JL-1", seen=SEEN)
    q.add_record("order_held", "JL-2", state="acknowledged", seen=SEEN + dt.timedelta(minutes=1))
    q.add_record("order_held", "JL-3", state="resolved")
    q.add_record("refund_not_sent", "CM-1", owner="finance", severity="warning")
    assert [r.object_id for r in dashboard.list_issues(q)] == ["JL-2", "CM-1", "JL-1"]  # active, newest first
    assert [r.object_id for r in dashboard.list_issues(q, state="resolved")] == ["JL-3"]
    assert len(dashboard.list_issues(q, state="all")) == 4
    assert [r.object_id for r in dashboard.list_issues(q, team="finance")] == ["CM-1"]
    assert [r.object_id for r in dashboard.list_issues(q, state="all", search="  JL-3 ")] == ["JL-3"]
    assert [r.object_id for r in dashboard.list_issues(q, type_code="order_held", limit=1)] == ["JL-2"]


def test_open_issues_by_team_counts_every_team_and_the_critical_ones() -> None:
    q = FakeConsoleQueries()
    q.add_record("order_held", "JL-1")
    q.add_record("order_held", "JL-2", severity="warning")
    q.add_record("order_held", "JL-3", state="resolved")
    teams = {t.team: (t.open, t.critical) for t in dashboard.open_issues_by_team(q)}
    assert teams["ops"] == (2, 1) and teams["finance"] == (0, 0)
    assert set(teams) == {"ecommerce", "ops", "finance", "customer_service"}


def test_the_activity_log_hides_a_name_typed_in_a_failed_log_in() -> None:
    q = FakeConsoleQueries()
    q.add_log("my secret password", FAILED_LOGIN, "my secret password", at=SEEN)
    q.add_log("ada", "login", "ada", at=SEEN + dt.timedelta(minutes=1))
    shown = dashboard.activity(q)
    assert [(e.actor, e.action, e.object_id) for e in shown] == [
        ("ada", "login", "ada"), (dashboard.HIDDEN_NAME, FAILED_LOGIN, "")]
    assert dashboard.activity(q, actor="my secret password") == []  # a search cannot confirm the name
    assert [e.actor for e in dashboard.activity(q, actor="my secret password", show_login_names=True)] == [
        "my secret password"]
    shown[0].detail["x"] = 1  # a copy: the page cannot write to the row
    assert q.log[1].detail == {}


def test_issue_history_and_the_issues_beside_a_flows_objects() -> None:
    q = FakeConsoleQueries()
    first = q.add_record("order_held", "JL-1")
    q.add_record("order_stuck", "JL-1")
    q.add_record("order_held", "JL-2", state="ignored")
    q.add_log("ada", "exception.acknowledge", str(first.id), object_type="exception")
    assert [e.action for e in dashboard.issue_history(q, first.id)] == ["exception.acknowledge"]
    assert {k: len(v) for k, v in dashboard.open_issues_for(q, ["JL-1", "JL-2"]).items()} == {"JL-1": 2}
    assert dashboard.open_issues_for(q, []) == {}
    assert [r.type for r in dashboard.active_issues_of(q, ["order_stuck"], limit=10)] == ["order_stuck"]
    assert dashboard.active_issues_of(q, []) == []
    assert dashboard.issue_record(q, first.id) is first and dashboard.issue_record(q, 99) is None


class _Engine:
    def __init__(self, runs: list[SimpleNamespace] | None = None) -> None:
        self.runs = runs or []

    def client(self) -> SimpleNamespace:
        def list_workflows(*, status: list[str] | None = None, **_: object) -> list[SimpleNamespace]:
            return [r for r in self.runs if (status is None) != (r.status in (status or []))]
        return SimpleNamespace(list_workflows=list_workflows)

    def workflow_names(self, area: str) -> set[str]:
        return set()


def _runtime(engine: _Engine | None = None) -> SimpleNamespace:
    return SimpleNamespace(workflow_database_url="sqlite:///engine.db", engine=engine or _Engine())


def test_flow_health_before_the_engine_ran_shows_lags_from_cursors_and_stock() -> None:
    q = FakeConsoleQueries(tables={"sync_outbox"}, oldest_stock_change=NOW - dt.timedelta(minutes=5))
    q.cursors = [("orders.poll", NOW - dt.timedelta(minutes=2)), ("refunds:memos", None),
                 ("shipments.poll", NOW - dt.timedelta(minutes=7)), ("stock.push", NOW - dt.timedelta(days=1))]
    q.add_record("workflow_failed", "wf-1")
    health = {f.area: f for f in dashboard.flow_health(_runtime(), q, now=NOW)}
    assert health["stock"].lag_seconds == 300.0 and "oldest stock" in health["stock"].lag_note
    assert health["orders"].lag_seconds == 120.0 and health["orders"].lag_note == "cursor orders.poll last moved"
    assert health["shipments"].lag_seconds == 420.0 and health["refunds"].lag_seconds is None
    assert health["maintenance"].open_issues == 1 and health["maintenance"].status == "warning"
    assert "has not run on this database yet" in health["stock"].notes[0]
    q.tables.clear()  # the stock flow is not installed: no stock lag, and no error
    assert {f.area: f for f in dashboard.flow_health(_runtime(), q, now=NOW)}["stock"].lag_seconds is None


def test_flow_health_reads_runs_from_the_engine() -> None:
    ms = int((NOW - dt.timedelta(minutes=1)).timestamp() * 1000)
    runs = [SimpleNamespace(name="orders.poll", status="SUCCESS", completed_at=ms, updated_at=ms),
            SimpleNamespace(name="refunds.send", status="ERROR", completed_at=ms, updated_at=ms),
            SimpleNamespace(name="stock.push", status="ENQUEUED", completed_at=None, updated_at=None),
            SimpleNamespace(name="stock.push", status="PENDING", completed_at=None, updated_at=None)]
    q = FakeConsoleQueries(engine_tables=True)
    health = {f.area: f for f in dashboard.flow_health(_runtime(_Engine(runs)), q, now=NOW)}
    assert health["orders"].status == "ok" and health["orders"].lag_seconds == 60.0
    assert health["refunds"].status == "failing" and health["refunds"].failed_recently == 1
    assert (health["stock"].running, health["stock"].queued) == (1, 1)


def test_an_action_reads_its_record_through_the_console_port() -> None:
    store = FakeConsoleStore()
    runtime = SimpleNamespace(console_store=store, flow_actions=FlowActions())
    user = SimpleNamespace(name="ada", role="ops")
    with pytest.raises(LookupError, match="no exception number 7"):
        actions.perform(store.actions_on(None), runtime, user, 7, "resolve")
    store.queries.add_record("refund_not_sent", "CM-1", owner="finance")
    with pytest.raises(actions.ActionRefused, match="finance team") as refused:
        actions.perform(store.actions_on(None), runtime, user, 1, "resolve")
    assert refused.value.forbidden
    with pytest.raises(actions.ActionRefused, match="not possible"):
        actions.perform(store.actions_on(None), runtime, SimpleNamespace(name="root", role="admin"), 1, "reopen")
