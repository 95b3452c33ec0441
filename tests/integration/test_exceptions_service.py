from marketbridge.domain.exceptions import (
    CONNECTION_FAILED,
    ExceptionReport,
    ExceptionState,
    Team,
)
from marketbridge.services import exceptions as exception_service


def report(object_id="mirakl", message="Mirakl refused the API key"):
    return ExceptionReport(type=CONNECTION_FAILED, object_id=object_id, message=message, detail="HTTP 401")


def test_a_repeat_updates_the_same_record(runtime):
    with runtime.db.session() as s:
        first = exception_service.record(s, report())
    with runtime.db.session() as s:
        again = exception_service.record(s, report(message="Mirakl refused the API key again"))
        assert again.id == first.id
        assert again.count == 2
        assert again.message == "Mirakl refused the API key again"
        assert again.owner == Team.ECOMMERCE
        assert again.suggested_action == CONNECTION_FAILED.action


def test_clear_resolves_and_a_new_occurrence_opens_a_new_record(runtime):
    with runtime.db.session() as s:
        first = exception_service.record(s, report())
    with runtime.db.session() as s:
        assert exception_service.clear(s, CONNECTION_FAILED, "mirakl") == 1
        assert exception_service.clear(s, CONNECTION_FAILED, "mirakl") == 0
    with runtime.db.session() as s:
        second = exception_service.record(s, report())
        assert second.id != first.id
        states = {r.id: r.state for r in exception_service.list_records(s)}
        assert states == {first.id: "resolved", second.id: "open"}


def test_ignored_records_stay_ignored_on_repeat(runtime):
    with runtime.db.session() as s:
        rec = exception_service.record(s, report())
        exception_service.act(s, rec.id, "ignore", actor="alice")
    with runtime.db.session() as s:
        again = exception_service.record(s, report())
        assert again.id == rec.id and again.state == ExceptionState.IGNORED and again.count == 2


def test_filters_and_counts(runtime):
    with runtime.db.session() as s:
        exception_service.record(s, report("mirakl"))
        exception_service.record(s, report("magento"))
        rec = exception_service.list_records(s, exception_service.ExceptionFilter(object_id="magento"))[0]
        exception_service.act(s, rec.id, "resolve", actor="bob")
    with runtime.db.session() as s:
        active = exception_service.list_records(s, exception_service.ExceptionFilter(active_only=True))
        assert [r.object_id for r in active] == ["mirakl"]
        assert exception_service.open_counts_by_owner(s)["ecommerce"] == 1
        assert exception_service.open_counts_by_owner(s)["finance"] == 0
        assert exception_service.list_records(s, exception_service.ExceptionFilter(owner=Team.FINANCE)) == []


def test_actions_are_audited(runtime):
    from sqlalchemy import select

    from marketbridge.adapters.db.models.core import AuditLogEntry

    with runtime.db.session() as s:
        rec = exception_service.record(s, report())
        exception_service.act(s, rec.id, "assign", actor="carol", assignee="dave")
        exception_service.act(s, rec.id, "acknowledge", actor="carol")
    with runtime.db.session() as s:
        entries = s.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        assert [(e.actor, e.action) for e in entries] == [("carol", "exception.assign"), ("carol", "exception.acknowledge")]
        assert s.get(type(rec), rec.id).assignee == "dave"
