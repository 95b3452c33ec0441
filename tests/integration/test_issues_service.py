from marketbridge.domain.issues import (
    CONNECTION_FAILED,
    IssueReport,
    IssueState,
    Team,
)
from marketbridge.services import issues as issue_service


def report(object_id="mirakl", message="Mirakl refused the API key"):
    return IssueReport(type=CONNECTION_FAILED, object_id=object_id, message=message, detail="HTTP 401")


def test_a_repeat_updates_the_same_record(runtime):
    with runtime.db.session() as s:
        first = issue_service.record(s, report())
    with runtime.db.session() as s:
        again = issue_service.record(s, report(message="Mirakl refused the API key again"))
        assert again.id == first.id
        assert again.count == 2
        assert again.message == "Mirakl refused the API key again"
        assert again.owner == Team.ECOMMERCE
        assert again.suggested_action == CONNECTION_FAILED.action


def test_clear_resolves_and_a_new_occurrence_opens_a_new_record(runtime):
    with runtime.db.session() as s:
        first = issue_service.record(s, report())
    with runtime.db.session() as s:
        assert issue_service.clear(s, CONNECTION_FAILED, "mirakl") == 1
        assert issue_service.clear(s, CONNECTION_FAILED, "mirakl") == 0
    with runtime.db.session() as s:
        second = issue_service.record(s, report())
        assert second.id != first.id
        states = {r.id: r.state for r in issue_service.list_records(s)}
        assert states == {first.id: "resolved", second.id: "open"}


def test_ignored_records_stay_ignored_on_repeat(runtime):
    with runtime.db.session() as s:
        rec = issue_service.record(s, report())
        issue_service.act(s, rec.id, "ignore", actor="alice")
    with runtime.db.session() as s:
        again = issue_service.record(s, report())
        assert again.id == rec.id and again.state == IssueState.IGNORED and again.count == 2


def test_filters_and_counts(runtime):
    with runtime.db.session() as s:
        issue_service.record(s, report("mirakl"))
        issue_service.record(s, report("magento"))
        rec = issue_service.list_records(s, issue_service.IssueFilter(object_id="magento"))[0]
        issue_service.act(s, rec.id, "resolve", actor="bob")
    with runtime.db.session() as s:
        active = issue_service.list_records(s, issue_service.IssueFilter(active_only=True))
        assert [r.object_id for r in active] == ["mirakl"]
        assert issue_service.open_counts_by_owner(s)["ecommerce"] == 1
        assert issue_service.open_counts_by_owner(s)["finance"] == 0
        assert issue_service.list_records(s, issue_service.IssueFilter(owner=Team.FINANCE)) == []


def test_actions_are_audited(runtime):
    from sqlalchemy import select

    from marketbridge.adapters.db.models.core import AuditLogEntry

    with runtime.db.session() as s:
        rec = issue_service.record(s, report())
        issue_service.act(s, rec.id, "assign", actor="carol", assignee="dave")
        issue_service.act(s, rec.id, "acknowledge", actor="carol")
    with runtime.db.session() as s:
        entries = s.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        assert [(e.actor, e.action) for e in entries] == [("carol", "exception.assign"), ("carol", "exception.acknowledge")]
        assert s.get(type(rec), rec.id).assignee == "dave"
