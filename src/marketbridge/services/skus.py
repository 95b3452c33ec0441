"""SKU integrity: exact matching is the rule; a person-confirmed link is the only exception.

Every flow that meets a marketplace offer SKU calls :func:`resolve` to find the Adobe Commerce
SKU: the link table first (a person confirmed ``"MB-1 "`` is ``MB-1``), else the SKU itself.
Near misses (spaces, case, punctuation, a shared EAN) are *suggested* by :func:`near_misses`,
never applied silently.

The rules live here; the rows are read and written through
:class:`marketbridge.ports.SkuLinksRepository` (:mod:`marketbridge.adapters.db.skus`). Callers not
yet on a port hand in their session instead (:data:`Links`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import SkuLink
from marketbridge.adapters.db.skus import SqlSkuLinks
from marketbridge.adapters.db.store import OrSession, on_repository
from marketbridge.domain.catalogue import SKU_NEAR_MISS, NearMiss, find_near_misses
from marketbridge.domain.issues import IssueReport
from marketbridge.ports.shared import SkuLinksRepository
from marketbridge.services import issues as issue_service
from marketbridge.services.stock.queries import SessionStockRecords

#: What the functions below act on: the SKU links' repository (the composition root's
#: ``sku_links``), or a bare session still handed in by a caller not yet on a port (the stock flow's
#: push, the web, the CLI, the console's flow action, tests), on which they build the SQL one.
Links = OrSession[SkuLinksRepository]


def links_on(target: Links) -> SkuLinksRepository:
    """The repository to act on (see :data:`Links`): on a bare session, the SQL links with the
    issue log and the stock flow's records on that same session."""
    return on_repository(target, lambda session: SqlSkuLinks(
        session, issue_service.RepositoryIssueLog(session), SessionStockRecords(session)))


#: The name the composition root and the other flows' wiring knew the session's links by.
SessionSkuLinks = links_on


class SkuLinkError(ValueError):
    """A link request that cannot be honoured (empty SKU, identical SKUs, unknown link)."""


class SkuLinkView(BaseModel):
    """A confirmed link as the API and the CLI show it (issue 18: a typed view, same JSON as before)."""

    model_config = ConfigDict(frozen=True)

    offer_sku: str
    magento_sku: str
    confirmed_by: str
    confirmed_at: str | None  # ISO 8601
    note: str


class NearMissView(BaseModel):
    """A near miss waiting for a person: the suggested link and the open exception that holds it."""

    model_config = ConfigDict(frozen=True)

    offer_sku: str
    magento_sku: str
    reason: str
    exception_id: str  # the API's field name for the issue record's id


def resolve(target: Links, offer_sku: str) -> str | None:
    """The Adobe Commerce SKU confirmed for ``offer_sku``, or ``None`` when no link exists.

    ``None`` means "use exact matching": callers compare ``offer_sku`` to Magento SKUs as is.
    """
    return links_on(target).linked(offer_sku)


def magento_sku_for(target: Links, offer_sku: str) -> str:
    """The SKU to use in Adobe Commerce for ``offer_sku``: the linked one, else the same SKU."""
    return links_on(target).magento_sku_for(offer_sku)


def offer_sku_for(target: Links, magento_sku: str) -> str:
    """The marketplace offer SKU for a Magento SKU: a confirmed link's offer SKU, else the same SKU."""
    return links_on(target).offer_sku_for(magento_sku)


def all_links(target: Links) -> dict[str, str]:
    """Offer SKU -> Magento SKU for every confirmed link (the audit joins on it)."""
    return links_on(target).all_links()


def link(target: Links, offer_sku: str, magento_sku: str, *, confirmed_by: str, note: str = "") -> SkuLink:
    """A person confirms that ``offer_sku`` on the marketplace is ``magento_sku``. Audited."""
    if not offer_sku or not magento_sku.strip():
        raise SkuLinkError("both the offer SKU and the Adobe Commerce SKU are needed")
    if offer_sku == magento_sku:
        raise SkuLinkError("the SKUs are identical; exact matching already links them")
    links = links_on(target)
    row = links.link_row(offer_sku)
    if row is None:
        row = SkuLink(offer_sku=offer_sku, magento_sku=magento_sku.strip(), confirmed_by=confirmed_by,
                      confirmed_at=utcnow(), note=note)
        links.add_link(row)
    else:
        row.magento_sku, row.confirmed_by, row.confirmed_at, row.note = magento_sku.strip(), confirmed_by, utcnow(), note
    links.issues.clear(SKU_NEAR_MISS, offer_sku, by=confirmed_by)
    links.issues.audit(confirmed_by, "sku.link", "sku", offer_sku, magento_sku=magento_sku)
    # The offer now has a Magento source: send its stock and price through the link at once.
    links.stock.note_hints([row.magento_sku], price=True, force=True, reason="sku link confirmed")
    links.flush()
    return row


def unlink(target: Links, offer_sku: str, *, by: str) -> None:
    links = links_on(target)
    row = links.link_row(offer_sku)
    if row is None:
        raise SkuLinkError(f"no link for the offer SKU {offer_sku!r}")
    links.remove_link(row)
    links.issues.audit(by, "sku.unlink", "sku", offer_sku, magento_sku=row.magento_sku)


def near_misses(target: Links, offers: Mapping[str, str | None], products: Mapping[str, str | None]) -> list[NearMiss]:
    """Suggested links between offer SKUs and product SKUs (each mapping SKU -> EAN) that do not match
    exactly and are not linked yet."""
    links = all_links(target)
    unmatched_offers = {s: e for s, e in offers.items() if s not in products and s not in links}
    linked_products = set(links.values())
    unmatched_products = {s: e for s, e in products.items() if s not in offers and s not in linked_products}
    return find_near_misses(unmatched_offers, unmatched_products)


def near_miss_report(miss: NearMiss) -> IssueReport:
    return IssueReport(
        type=SKU_NEAR_MISS, object_id=miss.offer_sku,
        message=f"The marketplace offer SKU {miss.offer_sku!r} {miss.reason} from the Adobe Commerce SKU "
                f"{miss.magento_sku!r}. Suggested link: {miss.offer_sku!r} -> {miss.magento_sku!r}.",
        context={"offer_sku": miss.offer_sku, "magento_sku": miss.magento_sku, "reason": miss.reason},
    )


def report_near_misses(issues: issue_service.Issues, misses: Iterable[NearMiss]) -> int:
    """One ``sku_near_miss`` issue per suggestion, for ecommerce to confirm or reject."""
    count = 0
    for miss in misses:
        issue_service.record(issues, near_miss_report(miss))
        count += 1
    return count


def link_view(row: SkuLink) -> SkuLinkView:
    return SkuLinkView(offer_sku=row.offer_sku, magento_sku=row.magento_sku, confirmed_by=row.confirmed_by,
                       confirmed_at=row.confirmed_at.isoformat() if row.confirmed_at else None, note=row.note)


def list_links(target: Links) -> list[SkuLinkView]:
    return [link_view(r) for r in links_on(target).link_rows()]


def open_near_misses(issues: issue_service.Issues) -> list[NearMissView]:
    """The near misses waiting for a person (open ``sku_near_miss`` issues), with the suggestion."""
    rows = issue_service.issues_on(issues).of_type_by_object(SKU_NEAR_MISS.code, issue_service.ACTIVE_STATES)
    return [NearMissView(offer_sku=r.object_id, magento_sku=str((r.context or {}).get("magento_sku", "")),
                         reason=str((r.context or {}).get("reason", "")), exception_id=str(r.id)) for r in rows]
