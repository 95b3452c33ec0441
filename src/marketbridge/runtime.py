"""What one process runs with: the settings, the database, the two API clients, the message bus,
the workflow engine seen through a small port, and the tables of handlers (webhooks, console
actions). It is built, with everything registered, by :func:`marketbridge.bootstrap.build_runtime`
only, so that the wiring lives in one place and nothing is registered by import side effect.

Services receive the runtime and use ``runtime.bus`` and ``runtime.engine``; they never import
``marketbridge.workflows``. DBOS workflows and steps are module-level functions, so they reach the
runtime through :func:`get_runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from marketbridge.adapters.db.session import Database
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.adapters.mirakl.usage import CallUsage
    from marketbridge.bus import MessageBus
    from marketbridge.ports import (
        AlertsStore,
        AuditStore,
        CatalogueStore,
        ConsoleStore,
        FollowedOrders,
        MagentoPort,
        MiraklPort,
        OrderFeedStore,
        OrdersStore,
        PeopleStore,
        RefundsStore,
        ShipmentOrders,
        ShipmentsStore,
    )
    from marketbridge.ports.budgets import CallBudgetStore
    from marketbridge.ports.finance import FinanceOrders
    from marketbridge.services.console.actions import FlowActions
    from marketbridge.services.webhooks import WebhookHandlers


class EnginePort(Protocol):
    """The durable workflow engine (DBOS), as services and the web layer need it. Implemented in
    :mod:`marketbridge.bootstrap` over ``marketbridge.workflows``, so that only the composition
    root knows the workflow modules."""

    def is_running(self) -> bool:
        """True when the engine was launched in this process (queues are served here)."""
        ...

    def launch(self, *, schedules: bool = True, start_hooks: bool = True) -> None:
        """``start_hooks=False``: the caller runs :meth:`run_start_hooks` later (once listening)."""
        ...

    def run_start_hooks(self) -> list[str]:
        """Run every area's start hook (the stock catch-up); the started workflow ids."""
        ...

    def shutdown(self) -> None: ...

    def client(self) -> Any:
        """A DBOS client on the system database (list, resume, enqueue from outside a workflow)."""
        ...

    def workflow_names(self, area: str) -> set[str]:
        """Names under which an area's workflows are recorded (for the dashboard)."""
        ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: MessageBus
    engine: EnginePort
    webhook_handlers: WebhookHandlers
    flow_actions: FlowActions
    #: the shipments flow's storage (``adapters.db.shipments`` over ``db``; a fake in unit tests)
    shipments_store: ShipmentsStore
    #: the refunds flow's storage (``adapters.db.refunds`` over ``db``; a fake in unit tests)
    refunds_store: RefundsStore
    #: the catalogue flow's storage (``adapters.db.catalogue`` over ``db``; a fake in unit tests)
    catalogue_store: CatalogueStore
    #: the audit's storage (``adapters.db.audit`` over ``db``; a fake in unit tests)
    audit_store: AuditStore
    #: the orders flow's storage (``adapters.db.orders`` over ``db``; a fake in unit tests)
    orders_store: OrdersStore
    #: console users, API tokens and the log-in throttle (``adapters.db.people`` over ``db``)
    people_store: PeopleStore
    #: the team alerts' issue records (``adapters.db.alerts`` over ``db``)
    alerts_store: AlertsStore
    #: the console's read-only queries (``adapters.db.console``, on the caller's session)
    console_store: ConsoleStore
    #: the order feed's mirror, outbox and state (``adapters.db.order_feed`` over ``db``; issue 20)
    order_feed_store: OrderFeedStore
    #: where the refunds follow reads marketplace orders: OR11, or the order feed's mirror when
    #: ``order_feed_enabled`` (picked in ``bootstrap``; None, in a runtime built by hand, is OR11)
    refund_orders: FollowedOrders | None = None
    #: where the finance report reads the marketplace: OR11, or the order export and the feed's
    #: mirror when ``order_feed_enabled`` (picked in ``bootstrap``; None is OR11)
    finance_orders: FinanceOrders | None = None
    #: where the shipments flow reads marketplace orders: OR11, or the order feed's mirror when
    #: ``order_feed_enabled`` (picked by bootstrap; None reads OR11, as a unit test's runtime does)
    shipment_orders: ShipmentOrders | None = None
    #: the marketplace call counts and deferrals every process writes and the budget page reads
    #: (``adapters.db.call_budget``; ``None`` in unit tests: nothing is stored)
    call_budget_store: CallBudgetStore | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def workflow_database_url(self) -> str:
        """Where the engine keeps its records (``adapters.db.engine_store``), decided once per
        process: the rule looks at the file system (a ``stat`` per look), and a shipment webhook
        and every dashboard render would otherwise ask again."""
        return self.settings.workflow_database_url

    # The flows see the clients through the ports (marketbridge.ports): what they call, no more.
    # Built on first use; a unit test sets ``runtime.magento = fake`` before (a cached_property is
    # an ordinary instance attribute once set).
    @cached_property
    def magento(self) -> MagentoPort:
        from marketbridge.adapters.magento.client import MagentoClient

        return MagentoClient.from_settings(self.settings)

    @cached_property
    def stock_id(self) -> int:
        """The MSI stock we publish, and the one Adobe Commerce reserves our orders on:
        ``magento_stock_id`` when set, else the stock of ``magento_website_code`` by MSI's stock
        resolver (``GET /V1/inventory/stock-resolver/website/{code}``), the way Magento resolves an
        order's stock from its website. Asked once per process: a website moved to another stock
        is seen after a restart. A failed ask raises and is asked again next time."""
        if self.settings.magento_stock_id is not None:
            return self.settings.magento_stock_id
        return self.magento.resolve_stock("website", self.settings.magento_website_code).stock_id

    @cached_property
    def call_usage(self) -> CallUsage:
        """This process's record of marketplace calls per API and flow (``adapters.mirakl.usage``),
        written to ``call_budget_store`` in batches."""
        from marketbridge.adapters.mirakl.usage import CallUsage

        return CallUsage(self.call_budget_store)

    @cached_property
    def mirakl(self) -> MiraklPort:
        from marketbridge.adapters.mirakl.client import MiraklClient

        return MiraklClient.from_settings(self.settings, usage=self.call_usage)

    def close(self) -> None:
        usage = self.__dict__.get("call_usage")
        if usage is not None:
            usage.close()
        for name in ("magento", "mirakl"):
            client = self.__dict__.get(name)
            if client is not None and hasattr(client, "close"):
                client.close()
        dbos_client = self.extras.pop("dbos_client", None)
        if dbos_client is not None:
            dbos_client.destroy()
        self.db.dispose()


_current: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def get_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("marketbridge runtime not started: call runtime.engine.launch() first")
    return _current
