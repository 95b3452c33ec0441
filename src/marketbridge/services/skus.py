"""SKU integrity: exact matching is the rule; a person-confirmed link is the only exception.

Every flow that meets a marketplace offer SKU calls :func:`resolve` to find the Adobe Commerce
SKU: the link table first (a person confirmed ``"MB-1 "`` is ``MB-1``), else the SKU itself.
Near misses (spaces, case, punctuation, a shared EAN) are *suggested* by :func:`near_misses`,
never applied silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import SkuLink
from marketbridge.domain.catalogue import SKU_NEAR_MISS, NearMiss, find_near_misses
from marketbridge.domain.issues import IssueReport
from marketbridge.services import issues as issue_service
from marketbridge.services.stock import outbox as stock_outbox


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


def resolve(session: Session, offer_sku: str) -> str | None:
    """The Adobe Commerce SKU confirmed for ``offer_sku``, or ``None`` when no link exists.

    ``None`` means "use exact matching": callers compare ``offer_sku`` to Magento SKUs as is.
    """
    return session.scalar(select(SkuLink.magento_sku).where(SkuLink.offer_sku == offer_sku))


def magento_sku_for(session: Session, offer_sku: str) -> str:
    """The SKU to use in Adobe Commerce for ``offer_sku``: the linked one, else the same SKU."""
    return resolve(session, offer_sku) or offer_sku


def offer_sku_for(session: Session, magento_sku: str) -> str:
    """The marketplace offer SKU for a Magento SKU: a confirmed link's offer SKU, else the same SKU."""
    linked = session.scalar(select(SkuLink.offer_sku).where(SkuLink.magento_sku == magento_sku).limit(1))
    return linked or magento_sku


def all_links(session: Session) -> dict[str, str]:
    """Offer SKU -> Magento SKU for every confirmed link (the audit joins on it)."""
    return dict(session.execute(select(SkuLink.offer_sku, SkuLink.magento_sku)).tuples().all())


def link(session: Session, offer_sku: str, magento_sku: str, *, confirmed_by: str, note: str = "") -> SkuLink:
    """A person confirms that ``offer_sku`` on the marketplace is ``magento_sku``. Audited."""
    if not offer_sku or not magento_sku.strip():
        raise SkuLinkError("both the offer SKU and the Adobe Commerce SKU are needed")
    if offer_sku == magento_sku:
        raise SkuLinkError("the SKUs are identical; exact matching already links them")
    row = session.get(SkuLink, offer_sku)
    if row is None:
        row = SkuLink(offer_sku=offer_sku, magento_sku=magento_sku.strip(), confirmed_by=confirmed_by,
                      confirmed_at=utcnow(), note=note)
        session.add(row)
    else:
        row.magento_sku, row.confirmed_by, row.confirmed_at, row.note = magento_sku.strip(), confirmed_by, utcnow(), note
    issue_service.clear(session, SKU_NEAR_MISS, offer_sku, by=confirmed_by)
    issue_service.audit(session, confirmed_by, "sku.link", "sku", offer_sku, magento_sku=magento_sku)
    # The offer now has a Magento source: send its stock and price through the link at once.
    stock_outbox.note_hints(session, [row.magento_sku], price=True, force=True, reason="sku link confirmed")
    session.flush()
    return row


def unlink(session: Session, offer_sku: str, *, by: str) -> None:
    row = session.get(SkuLink, offer_sku)
    if row is None:
        raise SkuLinkError(f"no link for the offer SKU {offer_sku!r}")
    session.delete(row)
    issue_service.audit(session, by, "sku.unlink", "sku", offer_sku, magento_sku=row.magento_sku)


def near_misses(session: Session, offers: Mapping[str, str | None], products: Mapping[str, str | None]) -> list[NearMiss]:
    """Suggested links between offer SKUs and product SKUs (each mapping SKU -> EAN) that do not match
    exactly and are not linked yet."""
    links = all_links(session)
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


def report_near_misses(session: Session, misses: Iterable[NearMiss]) -> int:
    """One ``sku_near_miss`` issue per suggestion, for ecommerce to confirm or reject."""
    count = 0
    for miss in misses:
        issue_service.record(session, near_miss_report(miss))
        count += 1
    return count


def link_view(row: SkuLink) -> SkuLinkView:
    return SkuLinkView(offer_sku=row.offer_sku, magento_sku=row.magento_sku, confirmed_by=row.confirmed_by,
                       confirmed_at=row.confirmed_at.isoformat() if row.confirmed_at else None, note=row.note)


def list_links(session: Session) -> list[SkuLinkView]:
    return [link_view(r) for r in session.scalars(select(SkuLink).order_by(SkuLink.offer_sku))]


def open_near_misses(session: Session) -> list[NearMissView]:
    """The near misses waiting for a person (open ``sku_near_miss`` issues), with the suggestion."""
    from marketbridge.adapters.db.models.core import IssueRecord

    rows = session.scalars(select(IssueRecord).where(
        IssueRecord.type == SKU_NEAR_MISS.code,
        IssueRecord.state.in_(issue_service.ACTIVE_STATES)).order_by(IssueRecord.object_id)).all()
    return [NearMissView(offer_sku=r.object_id, magento_sku=str((r.context or {}).get("magento_sku", "")),
                         reason=str((r.context or {}).get("reason", "")), exception_id=str(r.id)) for r in rows]


class SessionSkuLinks:
    """The :class:`marketbridge.ports.SkuLinks` port over one session: what a flow's unit of work
    (e.g. :class:`marketbridge.adapters.db.refunds.SqlRefundsStore`) hands out for the SKU links."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def magento_sku_for(self, offer_sku: str) -> str:
        return magento_sku_for(self.session, offer_sku)

    def all_links(self) -> dict[str, str]:
        return all_links(self.session)

    def offer_sku_for(self, magento_sku: str) -> str:
        return offer_sku_for(self.session, magento_sku)
