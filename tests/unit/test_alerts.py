"""Unit tests of the team alerts' rules (``services.alerts``) on the in-memory
:class:`tests.fakes_alerts.FakeAlertsStore`: no database, no HTTP. The same run against SQLite and a
real receiver is tests/integration/test_console_alerts.py."""

from __future__ import annotations

import datetime as dt

from pydantic import SecretStr

from marketbridge.ports import AlertsRepository, AlertsStore
from marketbridge.services import alerts
from marketbridge.settings import load_settings
from tests.fakes_alerts import FIRST_SEEN, FakeAlertsStore, RecordingNotifier

NOW = FIRST_SEEN + dt.timedelta(hours=2)
OPS_URL = "json://ops.example/hook"
SETTINGS = load_settings(database_url="sqlite://", session_secret="x" * 48).model_copy(update={
    "console_url": "https://console.example/", "alert_urls_ops": SecretStr(OPS_URL), "alert_repeat_hours": 12.0})


def test_the_fake_fits_the_port() -> None:
    store: AlertsStore = FakeAlertsStore()
    with store.unit_of_work() as repo:
        checked: AlertsRepository = repo
        assert checked.open_records_of("ops", ("open",)) == []


def test_one_urgent_message_per_team_and_each_record_is_stamped() -> None:
    store = FakeAlertsStore()
    first = store.add("workflow_failed", "wf-1", "Importing stopped", suggested_action="Restart it")
    second = store.add("workflow_failed", "wf-2", "Pushing stopped", first_seen=FIRST_SEEN + dt.timedelta(minutes=1))
    store.add("workflow_failed", "wf-3", "Minor", severity="warning")
    store.add("connection_failed", "mirakl", "Key refused", owner="ecommerce")  # no URL for ecommerce
    notifier = RecordingNotifier()
    with store.unit_of_work() as repo:
        run = alerts.send_urgent(repo, notifier, SETTINGS, now=NOW)
    assert (run.sent, run.skipped_no_url, run.failed) == ({"ops": 2}, {"ecommerce": 1}, {})
    (message,) = notifier.sent
    assert message["urls"] == [OPS_URL] and message["urgent"] is True
    assert message["title"] == "marketbridge: 2 urgent problems for Ops"
    assert message["body"].splitlines() == [
        "- Importing stopped", "  What to do: Restart it", "  https://console.example/exceptions/1",
        "- Pushing stopped", "  https://console.example/exceptions/2"]
    assert first.alerted_at == second.alerted_at == NOW and store.commits == 1 and store.flushes == 1
    assert store.records[4].alerted_at is None  # skipped for want of a URL: sent once one is configured


def test_the_same_problem_alerts_at_most_once_per_window() -> None:
    store = FakeAlertsStore()
    store.add("workflow_failed", "wf-1", "Stopped", state="resolved", alerted_at=NOW - dt.timedelta(hours=1))
    again = store.add("workflow_failed", "wf-1", "Stopped again")  # it came back under a new record
    notifier = RecordingNotifier()
    with store.unit_of_work() as repo:
        assert alerts.send_urgent(repo, notifier, SETTINGS, now=NOW).sent == {}
    assert notifier.sent == [] and again.alerted_at == NOW  # stamped, so it is not asked about again
    with store.unit_of_work() as repo:
        assert alerts.send_urgent(repo, notifier, SETTINGS, now=NOW + dt.timedelta(hours=1)).sent == {}
    later = NOW + dt.timedelta(hours=13)  # past alert_repeat_hours: one reminder
    with store.unit_of_work() as repo:
        assert alerts.send_urgent(repo, notifier, SETTINGS, now=later).sent == {"ops": 1}
    assert notifier.sent[0]["title"] == "marketbridge: urgent problem for Ops"


def test_a_record_claimed_by_another_run_is_not_sent_twice() -> None:
    store = FakeAlertsStore()
    store.add("workflow_failed", "wf-1", "One")
    store.add("workflow_failed", "wf-2", "Two")
    store.taken_elsewhere = {1}
    notifier = RecordingNotifier()
    with store.unit_of_work() as repo:
        assert alerts.send_urgent(repo, notifier, SETTINGS, now=NOW).sent == {"ops": 1}
    assert "One" not in notifier.sent[0]["body"] and "- Two" in notifier.sent[0]["body"]
    store.taken_elsewhere = {1, 2}
    store.records[2].alerted_at = None
    with store.unit_of_work() as repo:  # nothing left to claim: nothing is sent
        assert alerts.send_urgent(repo, notifier, SETTINGS, now=NOW).sent == {}
    assert len(notifier.sent) == 1


def test_a_failed_delivery_gives_the_claim_back() -> None:
    store = FakeAlertsStore()
    earlier = NOW - dt.timedelta(hours=20)
    old = store.add("workflow_failed", "wf-1", "Old", alerted_at=earlier)
    new = store.add("workflow_failed", "wf-2", "New")
    with store.unit_of_work() as repo:
        run = alerts.send_urgent(repo, RecordingNotifier(failing={OPS_URL}), SETTINGS, now=NOW)
    assert (run.sent, run.failed) == ({}, {"ops": 2})
    assert (old.alerted_at, new.alerted_at) == (earlier, None)  # the next run tries again
    with store.unit_of_work() as repo:
        assert alerts.send_urgent(repo, RecordingNotifier(), SETTINGS, now=NOW).sent == {"ops": 2}


def test_more_than_max_listed_ends_with_a_link_to_the_rest() -> None:
    store = FakeAlertsStore()
    for n in range(alerts.MAX_LISTED + 3):
        store.add("workflow_failed", f"wf-{n}", f"Job {n}")
    notifier = RecordingNotifier()
    with store.unit_of_work() as repo:
        alerts.send_urgent(repo, notifier, SETTINGS, now=NOW)
    body = notifier.sent[0]["body"]
    assert body.count("\n- ") + 1 == alerts.MAX_LISTED
    assert body.endswith("... and 3 more: https://console.example/exceptions")


def test_the_digest_counts_each_teams_open_problems() -> None:
    store = FakeAlertsStore()
    for n in range(3):
        store.add("workflow_failed", f"wf-{n}", f"Job {n} stopped", severity="warning",
                  first_seen=NOW - dt.timedelta(days=2 - n))
    store.add("workflow_failed", "wf-9", "Done", state="resolved")
    store.add("connection_failed", "magento", "Token expired", owner="finance")  # no URL: skipped
    notifier = RecordingNotifier()
    with store.unit_of_work() as repo:
        digest = alerts.team_digest(repo, "ops", NOW)
        run = alerts.send_digest(repo, notifier, SETTINGS, now=NOW)
    assert (digest.total, digest.new_today, digest.urgent_open) == (3, 2, 0)
    assert digest.oldest is not None and digest.oldest.message == "Job 0 stopped"
    assert (run.sent, run.skipped_no_url) == ({"ops": 3}, {"finance": 1})
    (message,) = notifier.sent
    assert message["title"] == "marketbridge daily digest for Ops: 3 open" and message["urgent"] is False
    assert "Oldest: Job 0 stopped (open 2 days)." in message["body"]
    assert message["body"].endswith("Open the console: https://console.example/exceptions?team=ops")
    with store.unit_of_work() as repo:
        empty = alerts.send_digest(repo, notifier, SETTINGS, now=NOW, include_empty=True)
    assert empty.sent["ops"] == 3 and empty.skipped_no_url["ecommerce"] == 0
