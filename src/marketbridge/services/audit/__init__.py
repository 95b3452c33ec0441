"""The full audit: Adobe Commerce (the master) against every marketplace offer.

Data fetch, in bulk (:mod:`.fetching`): Magento products (keyset pages) and MSI source items
(pages) on one side, the OF52 asynchronous offer export on the other (OF21 paging where the export
is unavailable or its once-a-day full export was already used). Expected quantity and price go
through the stock flow's rules (:func:`marketbridge.services.catalogue.channel_values`, i.e. the
domain's ``publishable_quantity`` / ``channel_price``).

Salable quantity is computed from source items in bulk; every SKU whose offer disagrees is then
*confirmed* with Magento's own salable-quantity API (reservations, minimum quantity, stock not
managed), so the per-SKU calls are proportional to the drift, not to the catalogue.

Each run (:func:`run_audit`, :mod:`.running`) is kept (``audit_runs``) with its counts per kind and
its drift rows (``audit_drifts``); :mod:`.fixing` re-publishes what Adobe Commerce says on request,
and :mod:`.reading` reads the runs back (JSON and CSV) as the typed views of :mod:`.results`.

Storage goes through the audit's port only (``runtime.audit_store``, :class:`marketbridge.ports.AuditStore`;
its SQL is :mod:`marketbridge.adapters.db.audit`): the read views take its repository.

This package exposes the flow's commands and views; the modules hold the rest.
"""

from marketbridge.services.audit.fetching import (
    PRICE_TOLERANCE,
    MagentoSide,
    Progress,
    confirm_quantities,
    export_offer_rows,
    fetch_magento,
    fetch_offers,
)
from marketbridge.services.audit.fixing import apply_fixes
from marketbridge.services.audit.reading import drift_view, get_run, list_runs, run_csv, run_view
from marketbridge.services.audit.results import (
    AuditDriftView,
    AuditRunDetail,
    AuditRunView,
    AuditStarted,
    AuditSummary,
)
from marketbridge.services.audit.running import AuditOutcome, raise_issues, record_many, run_audit

__all__ = [
    "PRICE_TOLERANCE", "AuditDriftView", "AuditOutcome", "AuditRunDetail", "AuditRunView", "AuditStarted",
    "AuditSummary", "MagentoSide", "Progress", "apply_fixes", "confirm_quantities",
    "drift_view", "export_offer_rows", "fetch_magento", "fetch_offers", "get_run", "list_runs",
    "raise_issues", "record_many", "run_audit", "run_csv", "run_view",
]
