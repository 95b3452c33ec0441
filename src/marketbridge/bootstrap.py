"""The composition root: :func:`build_runtime` builds everything a process runs with, and wires
every handler of every flow, explicitly, here and nowhere else.

Why one place: the flows used to find each other in four different ways (a module-level setter,
lazy imports from services up into workflows, registries filled as a side effect of importing a
module, and module look-ups by name), with ImportError fallbacks that could quietly turn a broken
import into "no price rules". Reading this module now tells the whole wiring:

* the webhook table (:func:`webhook_handlers`): which event names each flow listens to;
* the bus (:func:`message_bus`): cross-flow signals and the handler that acts on each; the ones that
  must survive a crash are enqueued on the flows' DBOS queues, as before;
* the console's flow actions (``services.console.flow_hooks.register_all``);
* the engine port (:class:`DbosEngine`): launching DBOS, its client, and what the dashboard needs
  to know about the workflows — so services and the web layer never import ``workflows``;
* the storage ports (``marketbridge.ports``): the shipments, refunds, catalogue, audit and orders
  flows' stores, the people store (users, tokens, log-in throttle), the alerts' store and the
  console's read-only queries (which read other flows' data through their query functions) and its
  actions' unit of work, the order feed's mirror, outbox and state (issue 20), the marketplace
  call counts per API and flow (``call_budget_store``, issue 20), over the database;
  and the shared ones every flow's unit of work gets on
  its own session: the issue records (``issue_log``), the SKU links (``sku_links``) and, for the
  orders flow's housekeeping, the personal-data purge (``retention``).

The worker (``marketbridge run``), the web app (``create_app`` takes the runtime built here), the
CLI and the tests all start from :func:`build_runtime`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from marketbridge import bus as messages
from marketbridge.adapters.db.alerts import SqlAlertsStore
from marketbridge.adapters.db.audit import SqlAuditStore
from marketbridge.adapters.db.call_budget import SqlCallBudgetStore
from marketbridge.adapters.db.catalogue import SqlCatalogueStore
from marketbridge.adapters.db.console import SqlConsoleStore
from marketbridge.adapters.db.issues import SqlIssuesStore
from marketbridge.adapters.db.order_feed import SqlOrderFeedStore
from marketbridge.adapters.db.orders import SqlOrdersStore
from marketbridge.adapters.db.people import SqlPeopleStore
from marketbridge.adapters.db.personal_data import SqlPersonalDataStore
from marketbridge.adapters.db.refunds import SqlRefundsStore
from marketbridge.adapters.db.session import Database
from marketbridge.adapters.db.shipments import SqlShipmentsStore
from marketbridge.adapters.db.skus import SqlSkuLinks, SqlSkuLinksStore
from marketbridge.domain.order_feed import ChangeKind
from marketbridge.ports.orders import StoredOrders
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services import personal_data
from marketbridge.services import refunds as refund_service
from marketbridge.services import shipments as shipment_service
from marketbridge.services import stock as stock_service
from marketbridge.services.console import flow_hooks as console_flow_hooks
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.finance.marketplace import FeedFinanceOrders
from marketbridge.services.orders.pulling import store_read_orders
from marketbridge.services.orders.record import RepositoryOrderRecords
from marketbridge.services.refunds.orders import MirrorOrders as RefundMirrorOrders
from marketbridge.services.shipments import SHIPMENT_EVENTS
from marketbridge.services.shipments.mirrored import MirrorOrders as ShipmentMirrorOrders
from marketbridge.services.shipments.snapshots import Or11Orders
from marketbridge.services.stock.queries import SessionStockRecords, oldest_unsent_change
from marketbridge.services.webhooks import UNRECOGNISED, Handler, WebhookHandlers
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.ports import ShipmentOrders

# The workflow modules (``marketbridge.workflows``) are imported where a handler first needs them,
# not here. Importing them imports DBOS, and DBOS its PostgreSQL driver, YAML and click: about
# 20 MB of resident memory (measured: a built runtime holds 102 MB without them and 122 MB with
# them). A CLI command that starts no workflow (a full stock resync, a report) should not carry
# that; the worker and the web app import them when the engine launches. The wiring is still all
# here: only the moment of the import moves.


def build_runtime(settings: Settings) -> Runtime:
    """The runtime of one process: settings, database, clients (built on first use), the bus, the
    engine port and every handler table, all wired."""
    engine = DbosEngine()
    bus = messages.MessageBus()
    flow_actions = FlowActions()
    db = Database(settings.database_url, slow_write_seconds=settings.slow_write_seconds)
    issues_store = SqlIssuesStore(db)

    def issue_log(session: Session) -> issue_service.RepositoryIssueLog:
        """The issue records as a flow's unit of work raises and clears them: on its session."""
        return issue_service.RepositoryIssueLog(issues_store.on_session(session))

    skus_store = SqlSkuLinksStore(db, issues=issue_log, stock=SessionStockRecords)

    def sku_links(session: Session) -> SqlSkuLinks:
        """The SKU links a flow's unit of work reads (and a person's edits write): on its session."""
        return skus_store.on_session(session)

    personal_data_store = SqlPersonalDataStore(db)

    def retention(session: Session, current: Settings, now: dt.datetime) -> dict[str, int]:
        """The personal-data purge in the orders flow's housekeeping transaction."""
        return personal_data.purge(personal_data_store.on_session(session), current, now)

    orders_store = SqlOrdersStore(db, issues=issue_log, retention=retention,
                                  skus=sku_links, stock=SessionStockRecords)

    def order_records(session: Session) -> RepositoryOrderRecords:
        """The orders flow's records as another flow's unit of work moves them: on its session."""
        return RepositoryOrderRecords(orders_store.on_session(session))

    refunds_store = SqlRefundsStore(db, issues=issue_log, orders=order_records,
                                    skus=sku_links)
    order_feed_store = SqlOrderFeedStore(db, settings.order_connection)
    runtime = Runtime(settings=settings, db=db, bus=bus, engine=engine,
                      webhook_handlers=webhook_handlers(refunds_store), flow_actions=flow_actions,
                      shipments_store=SqlShipmentsStore(db, issues=issue_log,
                                                        orders=order_records),
                      refunds_store=refunds_store,
                      catalogue_store=SqlCatalogueStore(db, issues=issue_log, skus=sku_links,
                                                        stock=SessionStockRecords),
                      audit_store=SqlAuditStore(db, skus=sku_links, orders=order_records,
                                                stock=SessionStockRecords),
                      orders_store=orders_store,
                      people_store=SqlPeopleStore(db), alerts_store=SqlAlertsStore(db),
                      console_store=SqlConsoleStore(open_counts_by_owner=issue_service.open_counts_by_owner,
                                                    open_counts_by_type=issue_service.open_counts_by_type,
                                                    oldest_unsent_change=oldest_unsent_change,
                                                    issues=issues_store.on_session, links=sku_links),
                      order_feed_store=order_feed_store,
                      refund_orders=refund_orders(settings, order_feed_store),
                      call_budget_store=SqlCallBudgetStore(db))
    runtime.finance_orders = finance_orders(runtime)
    runtime.shipment_orders = shipment_orders(runtime)
    engine.runtime = runtime
    wire_bus(bus, runtime)
    console_flow_hooks.register_all(flow_actions)
    return runtime


def refund_orders(settings: Settings, order_feed_store: SqlOrderFeedStore) -> RefundMirrorOrders | None:
    """Where the refunds follow reads marketplace orders: the order feed's mirror when
    ``order_feed_enabled`` (issue 20: the feed makes the one OR11 read), else None, which the
    follow reads as OR11 through ``runtime.mirakl`` (built on first use, so not named here)."""
    return RefundMirrorOrders(order_feed_store) if settings.order_feed_enabled else None


def finance_orders(runtime: Runtime) -> FeedFinanceOrders | None:
    """Where the finance report reads the marketplace: with ``order_feed_enabled``, the month's
    orders through the order export (OR13–OR15) and the ids through the feed's mirror; else None,
    which the report reads as OR11. The client is reached through the runtime on first use, so a
    process that never builds a report never builds the Mirakl client for it."""
    if not runtime.settings.order_feed_enabled:
        return None
    return FeedFinanceOrders(lambda: runtime.mirakl, runtime.order_feed_store)


def shipment_orders(runtime: Runtime) -> ShipmentOrders:
    """Where the shipments flow reads marketplace orders (issue 20): the order feed's mirror when
    ``order_feed_enabled`` (no OR11 call; the feed's next read confirms our writes), else OR11."""
    if runtime.settings.order_feed_enabled:
        return ShipmentMirrorOrders(runtime.order_feed_store)
    return Or11Orders(runtime)


def webhook_handlers(refunds_store: SqlRefundsStore) -> WebhookHandlers:
    """Every flow's Adobe Commerce webhook handlers, by event-name prefix, in the order they run.
    ``refunds_store`` gives the refunds handler its repository on the dispatcher's session."""
    table = WebhookHandlers()
    for name in stock_service.STOCK_EVENTS:
        table.add(name, stock_service.on_stock_event)
    for name in stock_service.PRODUCT_EVENTS:
        table.add(name, stock_service.on_product_event)
    for name in stock_service.ORDER_EVENTS:
        table.add(name, stock_service.on_order_event)
    for name in SHIPMENT_EVENTS:
        table.add(name, on_shipment_event)
    table.add("observer.sales_order_creditmemo_save_after", on_creditmemo_event(refunds_store))
    table.add(UNRECOGNISED, stock_service.on_unrecognised_event)
    return table


def on_shipment_event(session: Any, event_name: str, data: dict) -> None:
    """``workflows.shipments.on_shipment_event``: enqueues a detect run on the engine."""
    from marketbridge.workflows import shipments as shipment_workflows

    shipment_workflows.on_shipment_event(session, event_name, data)


def on_creditmemo_event(refunds_store: SqlRefundsStore) -> Handler:
    """``services.refunds.on_creditmemo_event`` on a repository over the dispatcher's session, so the
    memo id is stored in the dispatcher's transaction (it commits with the event marked handled)."""

    def handler(session: Session, event_name: str, data: dict) -> None:
        refund_service.on_creditmemo_event(refunds_store.on_session(session), event_name, data)

    return handler


def wire_bus(bus: messages.MessageBus, runtime: Runtime) -> None:
    """The handler of every cross-flow message. Each starts work on the engine; the durable ones
    enqueue on the flows' DBOS queues (so a crash after the enqueue loses nothing), and each has a
    poll schedule behind it that starts what a lost signal did not."""

    def start_sends(message: messages.ShipmentsDue) -> list[str]:
        from marketbridge.workflows import shipments as shipment_workflows

        return shipment_workflows.start_sends(runtime, message.due)

    def retry_order(message: messages.OrderRetryRequested) -> bool:
        if not runtime.engine.is_running():
            return False  # the order poll starts the recorded workflow
        from marketbridge.workflows import orders as order_workflows

        order_workflows.enqueue({"phase": "create", "order_id": message.order_id, "workflow_id": message.workflow_id})
        return True

    def retry_refund(message: messages.RefundRetryRequested) -> bool:
        if not runtime.engine.is_running():
            return False  # the refunds poll starts it
        from marketbridge.workflows import refunds as refund_workflows

        refund_workflows.enqueue(message.creditmemo_id, message.workflow_id)
        return True

    def start_audit(message: messages.AuditRequested) -> str | None:
        if not runtime.engine.is_running():
            return None
        from marketbridge.workflows import catalogue as catalogue_workflows

        return catalogue_workflows.start_audit(message.fix, message.trigger)

    def push_stock(_message: messages.WebhookEventsHandled) -> None:
        if not runtime.engine.is_running():
            return  # the schedule pushes what waits
        from marketbridge.workflows import stock as stock_workflows

        stock_workflows.trigger_push()

    def store_orders(message: messages.StoreMarketplaceOrders) -> StoredOrders:
        return store_read_orders(runtime, list(message.orders))

    def start_order_poll(_message: messages.MarketplaceOrdersStored) -> None:
        if not runtime.engine.is_running():
            return  # the orders poll's schedule does the work
        from marketbridge.workflows import orders as order_workflows

        order_workflows.trigger_poll()

    def confirm_shipments(message: messages.MarketplaceOrderChanged) -> list[int]:
        """The feed's next read confirms a shipment's OR23/OR24 (and a paid order starts its due
        sends); the shipments poll does the same as the backstop of a lost message."""
        return shipment_service.on_order_changed(runtime, message)

    def follow_refunds(message: messages.MarketplaceOrderChanged) -> str | None:
        """A refund the feed saw (ours confirmed, or one started on the marketplace) is followed at
        once; ``refund_follow_cron`` stays the backstop of a lost message."""
        if message.kind != ChangeKind.REFUNDED.value or not runtime.settings.refund_sync_enabled:
            return None
        from marketbridge.workflows import refunds as refund_workflows

        return refund_workflows.trigger_follow(runtime)

    bus.register(messages.ShipmentsDue, start_sends)
    bus.register(messages.StoreMarketplaceOrders, store_orders)
    bus.register(messages.MarketplaceOrdersStored, start_order_poll)
    bus.register(messages.OrderRetryRequested, retry_order)
    bus.register(messages.RefundRetryRequested, retry_refund)
    bus.register(messages.AuditRequested, start_audit)
    bus.register(messages.WebhookEventsHandled, push_stock)
    if runtime.settings.order_feed_enabled:
        bus.register(messages.MarketplaceOrderChanged, confirm_shipments)
        bus.register(messages.MarketplaceOrderChanged, follow_refunds)


class DbosEngine:
    """The engine port of the runtime (``runtime.engine``), over ``marketbridge.workflows``."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None

    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("DbosEngine used before build_runtime() attached its runtime")
        return self.runtime

    def is_running(self) -> bool:
        # DBOS cannot have been launched in a process that never imported the engine module, and
        # asking would import it (see the note at the top)
        if "marketbridge.workflows.engine" not in sys.modules:
            return False
        return _engine().is_launched()

    def launch(self, *, schedules: bool = True, start_hooks: bool = True) -> None:
        _engine().launch(self._runtime(), schedules=schedules, start_hooks=start_hooks)

    def run_start_hooks(self) -> list[str]:
        return _engine().run_start_hooks(self._runtime())

    def shutdown(self) -> None:
        if "marketbridge.workflows.engine" in sys.modules:
            _engine().shutdown()

    def client(self) -> Any:
        from marketbridge.workflows import maintenance as maintenance_workflows

        return maintenance_workflows._client(self._runtime())

    def workflow_names(self, area: str) -> set[str]:
        """The qualnames of an area's workflow functions (runs are recorded under ``area.*`` or
        these)."""
        module = _engine().workflow_modules().get(area)
        return _function_names(module) if module is not None else set()


def _engine() -> ModuleType:
    from marketbridge.workflows import engine as engine_module

    return engine_module


def _function_names(module: ModuleType) -> set[str]:
    return {value.__qualname__ for value in vars(module).values()
            if inspect.isfunction(value) and getattr(value, "__module__", "") == module.__name__}


__all__ = ["DbosEngine", "build_runtime", "finance_orders", "refund_orders", "webhook_handlers", "wire_bus"]
