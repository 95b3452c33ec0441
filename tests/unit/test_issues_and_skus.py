"""The rules of ``services.issues`` and ``services.skus`` on in-memory fakes of their ports
(tests/fakes_issues.py): no database. The SQL side is pinned by tests/integration/test_issues_service.py
and tests/integration/test_catalogue_audit.py."""

from __future__ import annotations

import pytest

from marketbridge.domain.catalogue import NearMiss
from marketbridge.domain.issues import CONNECTION_FAILED, IssueReport, IssueState, Team
from marketbridge.services import issues as issue_service
from marketbridge.services import skus as sku_service
from tests.fakes_issues import FakeIssuesRepository, FakeSkuLinks


def report(object_id: str = "mirakl", message: str = "Mirakl refused the API key") -> IssueReport:
    return IssueReport(type=CONNECTION_FAILED, object_id=object_id, message=message, detail="HTTP 401")


def test_a_repeat_updates_the_active_record_and_a_clear_resolves_it() -> None:
    issues = FakeIssuesRepository()
    first = issue_service.record(issues, report())
    again = issue_service.record(issues, report(message="refused again"))
    assert again is first and (first.count, first.message, first.state) == (2, "refused again", "open")
    assert issue_service.is_active(issues, CONNECTION_FAILED, "mirakl")
    assert issue_service.clear(issues, CONNECTION_FAILED, "mirakl") == 1
    assert issue_service.clear(issues, CONNECTION_FAILED, "mirakl") == 0
    assert (first.state, first.resolved_by) == ("resolved", "system")
    second = issue_service.record(issues, report())
    assert second.id != first.id and second.state == "open"


def test_an_ignored_record_stays_ignored_and_actions_are_audited() -> None:
    issues = FakeIssuesRepository()
    record = issue_service.record(issues, report())
    issue_service.act(issues, record.id, "assign", actor="carol", assignee="dave")
    issue_service.act(issues, record.id, "ignore", actor="carol")
    repeat = issue_service.record(issues, report())
    assert repeat is record and (record.state, record.count, record.resolved_by) == ("ignored", 2, "carol")
    assert [(actor, action, detail) for actor, action, _, _, detail in issues.log] == [
        ("carol", "exception.assign", {"assignee": "dave"}), ("carol", "exception.ignore", {"assignee": None})]
    with pytest.raises(issue_service.ActionNotAllowed):
        issue_service.act(issues, record.id, "shred", actor="carol")
    with pytest.raises(LookupError):
        issue_service.act(issues, 99, "resolve", actor="carol")


def test_lists_and_counts_take_the_active_states_from_the_rules() -> None:
    issues = FakeIssuesRepository()
    issue_service.record(issues, report("mirakl"))
    magento = issue_service.record(issues, report("magento"))
    issue_service.act(issues, magento.id, "resolve", actor="bob")
    active = issue_service.list_records(issues, issue_service.IssueFilter(active_only=True))
    assert [r.object_id for r in active] == ["mirakl"]
    assert issue_service.list_records(issues, issue_service.IssueFilter(state=IssueState.RESOLVED)) == [magento]
    assert issue_service.open_counts_by_owner(issues) == {**{t.value: 0 for t in Team}, "ecommerce": 1}
    assert issue_service.open_counts_by_type(issues) == {("connection_failed", "ecommerce"): 1}
    log = issue_service.RepositoryIssueLog(issues)
    assert log.active_ids(CONNECTION_FAILED) == ["mirakl"]
    assert log.resolved_by_a_person(CONNECTION_FAILED, "magento")
    assert not log.resolved_by_a_person(CONNECTION_FAILED, "mirakl")


def test_a_confirmed_link_clears_its_near_miss_is_audited_and_republishes_the_sku() -> None:
    links = FakeSkuLinks()
    issue_service.record(links.records, sku_service.near_miss_report(NearMiss("MB-1 ", "MB-1", "has a trailing space")))
    assert [m.offer_sku for m in sku_service.open_near_misses(links.records)] == ["MB-1 "]
    row = sku_service.link(links, "MB-1 ", " MB-1", confirmed_by="eddie")
    assert (row.magento_sku, row.confirmed_by) == ("MB-1", "eddie") and links.flushes == 1
    assert sku_service.open_near_misses(links.records) == []
    assert sku_service.resolve(links, "MB-1 ") == "MB-1" and sku_service.offer_sku_for(links, "MB-1") == "MB-1 "
    assert links.stock.hints == [(["MB-1"], {"price": True, "force": True, "reason": "sku link confirmed"})]
    assert [(a, action) for a, action, *_ in links.records.log] == [("eddie", "sku.link")]
    assert [v.offer_sku for v in sku_service.list_links(links)] == ["MB-1 "]
    sku_service.unlink(links, "MB-1 ", by="eddie")
    assert links.all_links() == {} and links.records.log[-1][:2] == ("eddie", "sku.unlink")


def test_a_link_that_cannot_be_honoured_is_refused() -> None:
    links = FakeSkuLinks()
    for offer, magento in (("", "MB-1"), ("MB-1 ", "  "), ("MB-1", "MB-1")):
        with pytest.raises(sku_service.SkuLinkError):
            sku_service.link(links, offer, magento, confirmed_by="eddie")
    with pytest.raises(sku_service.SkuLinkError):
        sku_service.unlink(links, "MB-9", by="eddie")
    assert links.rows == {} and links.stock.hints == []
