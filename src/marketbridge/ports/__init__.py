"""Ports: what the flows need from Adobe Commerce, from Mirakl and from storage, as
``typing.Protocol`` classes.

Issue 18 (item 2). The services and workflows depend on these, not on the HTTP clients: each port
lists exactly the methods the flows call (nothing else of the adapters' surface), with the
adapters' signatures copied as they are. So

* a flow's dependency on a remote system is written down in one place, and grows only when a flow
  starts calling something new (add it here, and mypy checks the adapter still fits);
* :class:`marketbridge.runtime.Runtime` types ``magento`` / ``mirakl`` as these ports, so mypy
  proves :class:`~marketbridge.adapters.magento.client.MagentoClient` and
  :class:`~marketbridge.adapters.mirakl.client.MiraklClient` satisfy them (structurally: the
  adapters do not inherit from the ports);
* a unit test hands a flow an in-memory fake with only these methods, no HTTP and no sandbox.

The models named in the signatures are the adapters' pydantic models (the wire types): a port is
about who calls what, not a second set of types.

Storage ports, one flow at a time (the shipments flow first): :class:`ShipmentsStore` opens a unit
of work whose :class:`ShipmentsRepository` answers the flow's questions and takes its writes; the
SQLAlchemy implementation is :mod:`marketbridge.adapters.db.shipments` (wired by
:mod:`marketbridge.bootstrap`), and tests/unit/test_shipments_flow.py runs the flow's decisions on
in-memory fakes. The repository hands out the flow's own ``ShipmentOut`` records: the flow changes
them in place and the unit of work keeps the changes (SQLAlchemy's session, or the fake's dict).
The refunds flow follows the same pattern: :class:`RefundsStore` / :class:`RefundsRepository`,
implemented in :mod:`marketbridge.adapters.db.refunds`, with ``RefundOut`` / ``MarketplaceRefund``
records (tests/unit/test_refunds_flow.py on fakes). So does the catalogue flow:
:class:`CatalogueStore` / :class:`CatalogueRepository`, implemented in
:mod:`marketbridge.adapters.db.catalogue`, with ``Listing`` / ``CatalogueImport`` records and the
mapping and publish-rule rows (tests/unit/test_catalogue_flow.py on fakes). The audit too:
:class:`AuditStore` / :class:`AuditRepository`, implemented in :mod:`marketbridge.adapters.db.audit`,
with ``AuditRun`` / ``AuditDrift`` records (tests/unit/test_audit_flow.py on fakes). Both read the
stock flow's rules and write its hints through :class:`StockRecords`. So does the orders flow:
:class:`OrdersStore` / :class:`OrdersRepository`, implemented in :mod:`marketbridge.adapters.db.orders`,
serve the whole flow: its reading modules and the ones that move the order record (pull, decisions,
creation, cancellation), whose storage errors are the port's own exceptions
(tests/unit/test_orders_flow.py on fakes). The stock flow's own storage is :class:`StockRepository`
(its outbox half :class:`StockOutboxRepository`), implemented by
:class:`marketbridge.adapters.db.stock.SqlStockRepository` on the caller's session, so a claim, a
release or a result is still one transaction; ``services.stock.outbox.store`` wraps that session.
The issue records themselves (:class:`IssuesStore` /
:class:`IssuesRepository`, :mod:`marketbridge.adapters.db.issues`), the SKU links' edits
(:class:`SkuLinksStore` / :class:`SkuLinksRepository`, :mod:`marketbridge.adapters.db.skus`) and the
personal-data purge (:class:`PersonalDataStore` / :class:`PersonalDataRepository`,
:mod:`marketbridge.adapters.db.personal_data`) follow the same pattern: their services keep the rules.
The webhook store (:class:`WebhookEventsRepository`, :mod:`marketbridge.adapters.db.webhooks`) is
bound to the caller's session like the stock flow's: a delivery's store and its handlers' hints
stay one transaction, and the handlers are still handed that session.

One module per concern, re-exported here (``from marketbridge.ports import MagentoPort``):
``remote`` (Adobe Commerce, Mirakl), ``shared`` (the issue log, another flow's order records, SKU
links, the stock flow's rules and hints), and one module per flow's storage (``shipments``,
``refunds``, ``catalogue``, ``audit``, ``orders``, ``people``, ``stock``, ``order_feed``; the next flow adds
its own). The order feed (issue 20) is one more: :class:`OrderFeedStore` for its own service, and
:class:`OrderMirror`, the read port over the mirror that other flows and the console read instead
of calling OR11 (:mod:`marketbridge.adapters.db.order_feed`).

The people side (console users, API tokens, the log-in throttle) is on :class:`PeopleStore` /
:class:`PeopleRepository`, implemented in :mod:`marketbridge.adapters.db.people`: ``services.auth``
and ``services.login_throttle`` keep the rules and write no query (tests/unit/test_people.py on a
fake, tests/fakes_people.py). The team alerts likewise: :class:`AlertsStore` /
:class:`AlertsRepository` (:mod:`marketbridge.adapters.db.alerts`) read and stamp the issue records
``services.alerts`` sends (tests/unit/test_alerts.py on a fake). The console's pages read through
:class:`ConsoleStore` / :class:`ConsoleQueries` (:mod:`marketbridge.adapters.db.console`), a
read-only query object on the request's session (tests/unit/test_console_dashboard.py on a fake).
"""

from __future__ import annotations

from marketbridge.ports.alerts import AlertsRepository, AlertsStore
from marketbridge.ports.audit import AuditRepository, AuditStore
from marketbridge.ports.catalogue import CatalogueRepository, CatalogueStore
from marketbridge.ports.console import ConsoleQueries, ConsoleStore
from marketbridge.ports.issues import IssuesRepository, IssuesStore
from marketbridge.ports.order_feed import FeedStatus, OrderFeedRepository, OrderFeedStore, OrderMirror
from marketbridge.ports.orders import (
    OrderAlreadyRecorded,
    OrderChangedUnderUs,
    OrdersRepository,
    OrdersStore,
    StorageBusy,
    StoredOrders,
)
from marketbridge.ports.people import PeopleRepository, PeopleStore
from marketbridge.ports.personal_data import PersonalDataRepository, PersonalDataStore
from marketbridge.ports.refunds import FollowedOrders, RefundsRepository, RefundsStore
from marketbridge.ports.remote import MagentoPort, MiraklPort
from marketbridge.ports.shared import (
    IssueLog,
    OrderRecords,
    SkuLinks,
    SkuLinksRepository,
    SkuLinksStore,
    StockRecords,
)
from marketbridge.ports.shipments import ShipmentOrders, ShipmentsRepository, ShipmentsStore
from marketbridge.ports.stock import StockOutboxRepository, StockRepository
from marketbridge.ports.webhooks import WebhookEventsRepository

__all__ = [
    "AlertsRepository", "AlertsStore", "AuditRepository", "AuditStore", "CatalogueRepository",
    "CatalogueStore", "ConsoleQueries", "ConsoleStore", "IssueLog", "IssuesRepository", "IssuesStore", "MagentoPort", "MiraklPort",
    "FeedStatus", "FollowedOrders", "OrderAlreadyRecorded", "OrderChangedUnderUs", "OrderFeedRepository", "OrderFeedStore", "OrderMirror", "OrderRecords", "OrdersRepository", "OrdersStore",
    "PeopleRepository", "PeopleStore", "PersonalDataRepository", "PersonalDataStore", "RefundsRepository",
    "RefundsStore", "ShipmentOrders", "ShipmentsRepository", "ShipmentsStore", "SkuLinks", "SkuLinksRepository", "SkuLinksStore",
    "StockOutboxRepository", "StockRecords", "StockRepository", "StorageBusy", "StoredOrders", "WebhookEventsRepository",
]
