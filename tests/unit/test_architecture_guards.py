"""Guards on the wiring (issue 18): dependencies are inverted in one way only, through
``marketbridge.bootstrap`` and the bus. These fail when an old way creeps back in:

* an ``except ImportError`` around a module (ours are always there; a fallback only hides a break,
  as it once turned the price rules into ``[]``);
* a service importing a workflow module (services publish a message or get a port instead);
* ``importlib`` (modules are imported by name in code, not looked up), except for the data file
  read through ``importlib.resources``;
* a module-level registry filled by import side effects (``register_*`` called at import time);
* the web layer importing the workflows (it reaches the engine through ``app.state.runtime``);
* the web layer importing SQLAlchemy or the ORM models, or running a query on a session: it calls
  the flows' commands and views only (``web.deps`` hands out the request's session, the one
  exception, listed with its reason in ``WEB_ORM_ALLOWED``);
* a flow importing another flow's ORM models: it calls that flow's ``queries`` module (exceptions
  listed with their reason in ``CROSS_FLOW_MODELS_ALLOWED``);
* a flow naming the HTTP clients instead of the ports (``marketbridge.ports``).
"""

from __future__ import annotations

import ast

from tests import source_tree

SRC = source_tree.SRC
#: importlib.resources reads a data file shipped in the package: the one allowed use.
IMPORTLIB_ALLOWED = {"services/passwords.py"}
#: Web modules allowed to import SQLAlchemy or the ORM models, each with its reason. Keep it short.
WEB_ORM_ALLOWED = {
    # The dependency that opens the request's session (``SessionDep``) and turns a bearer token
    # into the signed-in user; it names the two types (``DbSession``, ``ConsoleUser``) for the
    # rest of the web layer, and queries nothing itself (``services.auth`` does).
    "web/deps.py": "provides the request session and the signed-in user type",
}
#: The model modules of ``adapters/db/models`` shared by every flow (issues, audit log, cursors).
SHARED_MODELS = {"core"}
#: A flow package under ``services/`` that may import another flow's ORM models, each with its
#: reason. Everything else reads another flow's data through that flow's ``queries`` module.
CROSS_FLOW_MODELS_ALLOWED = {
    # The catalogue audit's own tables (AuditRun, AuditDrift) live in models/catalogue.py, next to
    # the listings, publish overrides and imports it checks and fixes: the audit is the catalogue's
    # check, packaged apart. Moving its tables out is a migration-free but separate change.
    ("audit", "catalogue"): "the audit's own tables live in models/catalogue.py",
}
#: Session methods that run a query or write: the web layer calls none of them on a session (it may
#: still end its transaction with ``commit`` or ``flush`` before a service opens its own).
QUERY_METHODS = {"execute", "scalar", "scalars", "query", "add", "add_all", "delete", "merge"}


def _modules() -> tuple[tuple[str, ast.Module], ...]:
    return source_tree.modules()


_imported_names = source_tree.imported_names


def test_no_import_error_fallbacks() -> None:
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = [node.type] if not isinstance(node.type, ast.Tuple) else list(node.type.elts)
                if any(isinstance(c, ast.Name) and c.id in ("ImportError", "ModuleNotFoundError") for c in caught):
                    found.append(f"{name}:{node.lineno}")
    assert found == []


def test_services_do_not_import_workflows() -> None:
    found = [f"{name}: {imported}" for name, tree in _modules() if name.startswith("services/")
             for imported in _imported_names(tree) if imported.startswith("marketbridge.workflows")]
    assert found == []


def test_the_web_layer_does_not_import_workflows() -> None:
    found = [f"{name}: {imported}" for name, tree in _modules() if name.startswith("web/")
             for imported in _imported_names(tree) if imported.startswith("marketbridge.workflows")]
    assert found == []


def test_the_web_layer_does_not_import_sqlalchemy_or_the_models() -> None:
    """Issue 18: the web layer calls the flows' commands and views; only they (and, in time, only
    ``adapters/db``) write SQLAlchemy queries."""
    found = [f"{name}: {imported}" for name, tree in _modules()
             if name.startswith("web/") and name not in WEB_ORM_ALLOWED
             for imported in _imported_names(tree)
             if imported == "sqlalchemy" or imported.startswith(("sqlalchemy.", "marketbridge.adapters.db.models"))]
    assert found == []


def test_the_web_layer_runs_no_query() -> None:
    """No ``session.execute`` / ``scalars`` / ``get(Model, id)`` / ``add`` ... in ``web``: a query
    there is a rule in the wrong place (``request.session`` is the signed cookie, not the database)."""
    found = []
    for name, tree in _modules():
        if not name.startswith("web/"):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            is_db_session = isinstance(target, ast.Name) and target.id in ("session", "s", "db_session")
            if is_db_session and (node.func.attr in QUERY_METHODS
                                  or (node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Name)
                                      and node.args[0].id[:1].isupper())):
                found.append(f"{name}:{node.lineno} session.{node.func.attr}()")
    assert found == []


def test_importlib_only_for_package_data() -> None:
    found = []
    for name, tree in _modules():
        if name in IMPORTLIB_ALLOWED:
            continue
        if any(imported == "importlib" or imported.startswith("importlib.") for imported in _imported_names(tree)):
            found.append(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
                found.append(f"{name}:{node.lineno}")
    assert found == []


def test_nothing_registers_itself_at_import_time() -> None:
    """A module-level call to a ``register*`` or ``set_*`` function is wiring by import side effect;
    bootstrap does the wiring. ``cli/main.py`` is the CLI's own explicit table of command groups
    (``orders.register(app)`` adds commands to the app defined right there), not a side effect."""
    found = []
    for name, tree in _modules():
        if name == "cli/main.py":
            continue
        for node in tree.body:
            call = node.value if isinstance(node, ast.Expr) else None
            if isinstance(call, ast.Call):
                func = call.func
                called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if called.startswith(("register", "_register", "set_")) and called != "set_runtime":
                    found.append(f"{name}:{node.lineno} {called}()")
    assert found == []


def test_bootstrap_wires_every_flow() -> None:
    """The webhook table, the bus and the console actions are filled by build_runtime, not by
    whatever happened to be imported before."""
    from marketbridge.bootstrap import build_runtime
    from marketbridge.bus import (
        AuditRequested,
        OrderRetryRequested,
        RefundRetryRequested,
        ShipmentsDue,
        WebhookEventsHandled,
    )
    from marketbridge.settings import load_settings

    runtime = build_runtime(load_settings(database_url="sqlite://", session_secret="x" * 48))
    try:
        for message in (ShipmentsDue, OrderRetryRequested, RefundRetryRequested, AuditRequested, WebhookEventsHandled):
            assert runtime.bus.handlers_of(message), message.__name__
        handlers = runtime.webhook_handlers
        for event in ("observer.cataloginventory_stock_item_save", "observer.catalog_product_save",
                      "observer.sales_order_place_after", "observer.sales_order_shipment_save_after",
                      "observer.sales_order_creditmemo_save_after"):
            assert handlers.for_event(event), event
        for code in ("workflow_failed", "order_held", "order_creation_failed", "carrier_unmapped",
                     "shipment_rejected", "sku_near_miss", "refund_not_sent", "marketplace_refund_recorded"):
            assert runtime.flow_actions.for_type(code), code
        assert runtime.engine.is_running() is False
    finally:
        runtime.close()


def test_a_runtime_without_the_engine_does_not_import_it() -> None:
    """A CLI command that starts no workflow (a full stock resync, a report) builds the runtime but
    never launches DBOS. Importing the workflow modules there imported DBOS, its PostgreSQL driver,
    YAML and click: about 20 MB more resident memory for the resync (bench/stock_sync.py). The
    bootstrap imports them where a handler first needs them; a fresh interpreter shows it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from marketbridge.bootstrap import build_runtime\n"
        "from marketbridge.settings import load_settings\n"
        "runtime = build_runtime(load_settings(database_url='sqlite://', session_secret='x' * 48))\n"
        "assert runtime.engine.is_running() is False\n"
        "runtime.close()\n"
        "print(sorted(m for m in sys.modules if m == 'dbos' or m.startswith('marketbridge.workflows')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(SRC.parent.parent))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_flows_depend_on_the_ports_not_the_clients() -> None:
    """Issue 18 item 2: services and workflows reach Adobe Commerce and Mirakl through
    ``marketbridge.ports`` (``runtime.magento`` / ``runtime.mirakl`` are typed as the ports), never
    by naming the HTTP client classes; only ``runtime`` builds those. The adapters' models, search
    criteria and errors are the wire types, and stay importable."""
    clients = ("marketbridge.adapters.magento.client", "marketbridge.adapters.mirakl.client")
    named = ("MagentoClient", "MiraklClient")
    found = [f"{name}: {imported}" for name, tree in _modules() if name.startswith(("services/", "workflows/"))
             for imported in _imported_names(tree)
             if imported in clients or imported.rsplit(".", 1)[-1] in named]
    assert found == []


def _flow_packages() -> set[str]:
    return {path.parent.name for path in (SRC / "services").glob("*/__init__.py")}


def test_flows_read_other_flows_through_their_queries() -> None:
    """Issue 18 item 2: a flow package under ``services/`` imports its own ORM models (and the
    shared ``core`` ones), never another flow's (``adapters/db/models/<other flow>``): it reads
    that data through the other flow's query functions (``services/<flow>/queries.py``), so a flow
    can change its tables without breaking its neighbours."""
    flows = _flow_packages()
    models = {path.stem for path in (SRC / "adapters" / "db" / "models").glob("*.py")} - {"__init__"}
    assert {"orders", "stock", "shipments"} <= flows and {"orders", "stock", "core"} <= models
    prefix = "marketbridge.adapters.db.models."
    found = set()
    for name, tree in _modules():
        parts = name.split("/")
        if parts[0] != "services" or len(parts) < 3 or parts[1] not in flows:
            continue
        flow = parts[1]
        for imported in _imported_names(tree):
            if not imported.startswith(prefix):
                continue
            owner = imported[len(prefix):].split(".", 1)[0]
            if owner in models and owner != flow and owner not in SHARED_MODELS \
                    and (flow, owner) not in CROSS_FLOW_MODELS_ALLOWED:
                found.add(f"{name}: {imported}")
    assert sorted(found) == []


def test_cross_flow_exceptions_are_still_needed() -> None:
    """An exception that no module needs any more is removed from the list (it would let the
    import come back unnoticed)."""
    used = set()
    for name, tree in _modules():
        parts = name.split("/")
        if parts[0] == "services" and len(parts) >= 3:
            for imported in _imported_names(tree):
                if imported.startswith("marketbridge.adapters.db.models."):
                    used.add((parts[1], imported.split(".")[4]))
    assert set(CROSS_FLOW_MODELS_ALLOWED) <= used


#: Modules of a flow that reach storage only through the flow's port (``marketbridge.ports``): no
#: SQLAlchemy, no models, no ``runtime.db``. Grows as each flow moves onto its store.
ON_STORAGE_PORT = {*(f"services/shipments/{name}.py" for name in (
                       "__init__", "carriers", "common", "confirm", "console", "detect", "mirrored", "outcomes",
                       "prepare", "send", "snapshots", "views", "watch")),
                   *(f"services/refunds/{name}.py" for name in (
                       "__init__", "conversions", "follow", "mirror", "orders", "polling", "prepare", "reading", "reasons",
                       "recording", "results", "send", "states", "webhooks")),
                   *(f"services/catalogue/{name}.py" for name in (
                       "__init__", "discovery", "following", "mappings", "passes", "preparing", "products", "reference",
                       "results", "sending", "views")),
                   *(f"services/audit/{name}.py" for name in (
                       "__init__", "fetching", "fixing", "reading", "results", "running")),
                   *(f"services/orders/{name}.py" for name in (
                       "__init__", "cancellation", "creation", "decisions", "pulling", "queries", "record",
                       "results", "skus", "todo", "upkeep", "views")),
                   # The order feed (issue 20), on ``OrderFeedStore`` from its first line.
                   *(f"services/order_feed/{name}.py" for name in (
                       "__init__", "dispatching", "exporting", "pace", "paging", "reading", "results", "wire")),
                   # The people side (users, tokens, the log-in throttle), on ``PeopleStore``.
                   "services/auth.py", "services/login_throttle.py",
                   # The team alerts, on ``AlertsStore``.
                   "services/alerts.py",
                   # The personal-data purge, on ``PersonalDataStore`` (in the orders housekeeping's transaction).
                   "services/personal_data.py",
                   # The console: its read models on ``ConsoleQueries``, a person's actions in an
                   # ``IssueActionsUnit`` (the request's transaction, handed to the flow handlers).
                   *(f"services/console/{name}.py" for name in ("__init__", "actions", "dashboard", "flow_hooks"))}
#: What those may still import from ``adapters/db``: the database clock helper, which runs no query,
#: and the flow's record types, which its repository hands out.
STORAGE_PORT_ALLOWED = {"marketbridge.adapters.db.base", "marketbridge.adapters.db.base.utcnow",
                        "marketbridge.adapters.db.models.shipments", "marketbridge.adapters.db.models.shipments.ShipmentOut",
                        "marketbridge.adapters.db.models.shipments.CarrierMapping",
                        "marketbridge.adapters.db.models.refunds", "marketbridge.adapters.db.models.refunds.RefundOut",
                        "marketbridge.adapters.db.models.refunds.MarketplaceRefund",
                        "marketbridge.adapters.db.models.catalogue", "marketbridge.adapters.db.models.catalogue.Listing",
                        "marketbridge.adapters.db.models.catalogue.AttributeMappingRow",
                        "marketbridge.adapters.db.models.catalogue.CategoryMappingRow",
                        "marketbridge.adapters.db.models.catalogue.AuditRun",
                        "marketbridge.adapters.db.models.catalogue.AuditDrift",
                        "marketbridge.adapters.db.models.orders", "marketbridge.adapters.db.models.orders.MarketplaceOrder",
                        "marketbridge.adapters.db.models.orders.OrderLine",
                        "marketbridge.adapters.db.models.core", "marketbridge.adapters.db.models.core.User",
                        "marketbridge.adapters.db.models.core.LoginFailure",
                        "marketbridge.adapters.db.models.core.IssueRecord",
                        "marketbridge.adapters.db.models.core.AuditLogEntry"}


def test_flows_on_their_storage_port_write_no_query() -> None:
    """Issue 18 item 2: once a flow's module is on its storage port (a unit of work and a
    repository, implemented in ``adapters/db``), its queries stay there."""
    found = []
    for name, tree in _modules():
        if name not in ON_STORAGE_PORT:
            continue
        found += [f"{name}: {imported}" for imported in _imported_names(tree)
                  if imported not in STORAGE_PORT_ALLOWED and (
                      imported == "sqlalchemy" or imported.startswith(("sqlalchemy.", "marketbridge.adapters.db")))]
        found += [f"{name}:{node.lineno} runtime.db" for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr == "db"
                  and isinstance(node.value, ast.Name) and node.value.id == "runtime"]
    assert found == []
    assert all((SRC / name).is_file() for name in ON_STORAGE_PORT)


#: Flow packages that are on their storage port as a whole: a module added to one is guarded too.
WHOLLY_ON_STORAGE_PORT = ("shipments", "refunds", "catalogue", "audit", "orders", "console", "order_feed")


def test_every_module_of_a_ported_flow_is_guarded() -> None:
    """A new module in a flow that is entirely on its port must be added to ``ON_STORAGE_PORT``
    (else it could write queries again unnoticed)."""
    missing = [path.relative_to(SRC).as_posix() for flow in WHOLLY_ON_STORAGE_PORT
               for path in sorted((SRC / "services" / flow).glob("*.py"))
               if path.relative_to(SRC).as_posix() not in ON_STORAGE_PORT]
    assert missing == []


#: What a module of ``services/stock`` may still import from SQLAlchemy, and only under
#: ``if TYPE_CHECKING:``: the ``Session`` type, for the signatures that are still handed the caller's
#: session (the issue log, the SKU links and the webhook dispatcher pass it through the flow), which
#: ``services.stock.outbox.store`` wraps in the stock port. Every statement is in
#: ``adapters/db/stock.py`` / ``adapters/db/stock_outbox.py`` (``ports.StockRepository``).
STOCK_TYPE_ONLY_SQLALCHEMY = {"sqlalchemy.orm", "sqlalchemy.orm.Session"}
#: Session methods that run a statement or change what the unit of work writes.
SESSION_STATEMENT_METHODS = QUERY_METHODS | {"get", "flush", "rollback", "commit", "begin_nested", "expunge",
                                             "get_bind"}


def _type_checking_imports(tree: ast.Module) -> set[int]:
    """The ids of the import nodes inside an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            inside.update(id(child) for statement in node.body for child in ast.walk(statement)
                          if isinstance(child, ast.Import | ast.ImportFrom))
    return inside


def test_the_stock_flow_writes_no_sqlalchemy() -> None:
    """Issue 18 item 2: ``services/stock`` decides, ``adapters/db`` runs the statements. No module
    of the flow imports SQLAlchemy at run time (the ``Session`` type under ``TYPE_CHECKING`` is the
    one allowance) nor calls a statement method on a session."""
    stock_modules = [(name, tree) for name, tree in _modules() if name.startswith("services/stock/")]
    assert len(stock_modules) >= 10
    found = []
    for name, tree in stock_modules:
        typing_only = _type_checking_imports(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported = _imported_names(node)
                if not any(i == "sqlalchemy" or i.startswith("sqlalchemy.") for i in imported):
                    continue
                if id(node) not in typing_only or not set(imported) <= STOCK_TYPE_ONLY_SQLALCHEMY:
                    found.append(f"{name}:{node.lineno} {', '.join(imported)}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in ("session", "s", "db_session")
                  and node.func.attr in SESSION_STATEMENT_METHODS):
                found.append(f"{name}:{node.lineno} session.{node.func.attr}()")
    assert found == []


#: Modules freed of SQLAlchemy whose callers are not all on a port yet (issue 18): they import no
#: SQLAlchemy and run no query; their queries are in ``adapters/db``. Each still names the adapter
#: its functions build on a *bare session* that such a caller hands in (``adapters.db.store``'s
#: ``OrSession`` / ``on_repository``), listed here with it; once every caller hands in the port, move
#: the module to ``ON_STORAGE_PORT`` and drop its entry. Workflow modules list the adapter-level
#: helpers they call instead of SQLAlchemy (``adapters.db.errors``' predicates, an after-commit hook).
SQLALCHEMY_FREE: dict[str, set[str]] = {
    # recording, clearing, listing and acting on issue records: the stock flow, the maintenance
    # workflow, the CLI and the web still hand in the session they hold
    "services/issues.py": {"marketbridge.adapters.db.issues", "marketbridge.adapters.db.issues.SqlIssuesRepository"},
    # the SKU links: the stock flow's push, the web, the CLI and the console's flow action still hand
    # in their session
    "services/skus.py": {"marketbridge.adapters.db.skus", "marketbridge.adapters.db.skus.SqlSkuLinks",
                         "marketbridge.adapters.db.models.catalogue.SkuLink"},
    # the webhook store, dedup and dispatch: the receiver, the intake, the stock poll's re-dispatch
    # open their transaction with ``runtime.db.session`` and hand in the session (its statements
    # are ``adapters.db.webhooks.SqlWebhookEvents``, on that session: store and hints stay one
    # transaction)
    "services/webhooks.py": {"marketbridge.adapters.db.webhooks", "marketbridge.adapters.db.webhooks.SqlWebhookEvents"},
    # the intake's writer and dispatcher threads: they hand ``services.webhooks`` the sessions they
    # open, and name no adapter at all
    "services/webhook_intake.py": set(),
    # a decision step's "our database refused for a moment": the orders port's ``StorageBusy``, and
    # what still arrives untranslated (a pool time-out) through ``adapters.db.errors``
    "workflows/orders.py": {"marketbridge.adapters.db.errors", "marketbridge.adapters.db.errors.transient_detail"},
    # the send steps' retry predicate (the shipments store translates no storage error), and the
    # shipment hint enqueued after the dispatcher's commit when the engine has its own file
    "workflows/shipments.py": {"marketbridge.adapters.db.errors", "marketbridge.adapters.db.errors.is_transient",
                               "marketbridge.adapters.db.session", "marketbridge.adapters.db.session.after_commit"},
}
_BARE_SESSION_BRIDGE = {"marketbridge.adapters.db.store", "marketbridge.adapters.db.store.OrSession",
                        "marketbridge.adapters.db.store.on_repository"}


def test_modules_freed_of_sqlalchemy_stay_free() -> None:
    found = []
    for name, tree in _modules():
        if name not in SQLALCHEMY_FREE:
            continue
        allowed = STORAGE_PORT_ALLOWED | _BARE_SESSION_BRIDGE | SQLALCHEMY_FREE[name]
        found += [f"{name}: {imported}" for imported in _imported_names(tree)
                  if imported == "sqlalchemy" or imported.startswith("sqlalchemy.")
                  or (imported.startswith("marketbridge.adapters.db") and imported not in allowed)]
        found += [f"{name}:{node.lineno} .{node.func.attr}()" for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in QUERY_METHODS | {"get", "flush", "commit", "rollback"}
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in ("session", "s", "db_session")]
    assert found == []
    assert all((SRC / name).is_file() for name in SQLALCHEMY_FREE)
    assert not set(SQLALCHEMY_FREE) & ON_STORAGE_PORT


#: Web modules that work on the flows' repositories (``PeopleDep``, ``ConsoleDep``...), never on the
#: request's session itself: they may not name ``DbSession`` / ``SessionDep``.
WEB_WITHOUT_SESSION = {"web/console_auth.py"}


def test_web_modules_on_repositories_name_no_session() -> None:
    names = {"marketbridge.web.deps.DbSession", "marketbridge.web.deps.SessionDep",
             "marketbridge.web.deps.get_session", "marketbridge.web.deps.people_on"}
    found = [f"{name}: {imported}" for name, tree in _modules() if name in WEB_WITHOUT_SESSION
             for imported in _imported_names(tree) if imported in names]
    assert found == []
    assert all((SRC / name).is_file() for name in WEB_WITHOUT_SESSION)
