"""Launching DBOS on our own database, with the footguns of STACK.md §1.2 handled:

* ``application_version`` is pinned from settings, so an edit to workflow code does not strand
  PENDING workflows (bump it only when a workflow's steps change incompatibly);
* the portable JSON serializer, never pickle: workflows and steps take and return only JSON
  values (str, int, float, bool, None, lists and dicts of them);
* one system database = our ``DATABASE_URL`` (SQLite file or PostgreSQL);
* a stable ``executor_id`` per worker, a heartbeat, and a sweeper that resumes the PENDING
  workflows of a worker that has gone silent (open-source DBOS does not do that by itself).

Each flow declares its workflows in ``marketbridge.workflows.<area>`` and lists its queues and
schedules in module constants ``QUEUES`` and ``SCHEDULES``; :func:`launch` registers them all.
The area modules are imported explicitly below (:func:`workflow_modules`), not looked up by name.
Outside ``workflows``, the engine is reached through ``runtime.engine`` (see ``bootstrap``).
A module may also define ``at_start(settings)``: called once the engine runs with schedules (a
serving worker), to catch up on what happened while nobody listened (the stock flow does).
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import structlog
from dbos import DBOS, DBOSConfig
from dbos._serialization import DBOSPortableJSONSerializer

from marketbridge.adapters.db.engine_store import prepare_engine_file
from marketbridge.runtime import Runtime, set_runtime
from marketbridge.workflows import (
    catalogue,
    console,
    maintenance,
    order_feed,
    orders,
    refunds,
    shipments,
    stock,
)

log = structlog.get_logger(__name__)

#: Every area's workflow module, in the order their queues, schedules and start hooks are set up.
AREAS: dict[str, ModuleType] = {
    "maintenance": maintenance,
    "stock": stock,
    "orders": orders,
    "order_feed": order_feed,
    "shipments": shipments,
    "refunds": refunds,
    "catalogue": catalogue,
    "console": console,
}
AREA_MODULES = tuple(AREAS)

_launched = False
_lock = threading.Lock()


def workflow_modules() -> dict[str, ModuleType]:
    """Area name → its workflow module (imported with this module, so its workflows are
    registered with DBOS before :func:`launch`)."""
    return dict(AREAS)


def load_workflow_modules() -> list[ModuleType]:
    """Every area's workflow module, in :data:`AREAS` order."""
    return list(AREAS.values())


def dbos_config(runtime: Runtime) -> DBOSConfig:
    settings = runtime.settings
    return DBOSConfig(
        name="marketbridge",
        system_database_url=runtime.workflow_database_url,
        application_version=settings.application_version,
        executor_id=settings.executor_id,
        serializer=DBOSPortableJSONSerializer(),
        log_level="WARNING",
        scheduler_polling_interval_sec=5.0,
        notification_listener_polling_interval_sec=0.2,
    )


def launch(runtime: Runtime, *, schedules: bool = True, start_hooks: bool = True) -> None:
    """Start DBOS in this process: recover this executor's unfinished work, then run queues and
    (when ``schedules``) the cron schedules of every flow.

    ``start_hooks=False`` leaves the areas' ``at_start`` hooks to the caller
    (:func:`run_start_hooks`): ``marketbridge run`` calls them once its web server accepts
    connections, so that the stock catch-up scans after the moment webhooks can arrive again."""
    global _launched
    with _lock:
        if _launched:
            raise RuntimeError("DBOS already launched in this process")
        set_runtime(runtime)
        modules = load_workflow_modules()
        prepare_engine_file(runtime.workflow_database_url)
        DBOS(config=dbos_config(runtime))
        DBOS.launch()
        for module in modules:
            for queue in getattr(module, "QUEUES", ()):
                DBOS.register_queue(**queue)
        if schedules:
            entries: list[Any] = []
            for module in modules:
                builder = getattr(module, "schedules", None)
                if builder is not None:
                    entries.extend(builder(runtime.settings))
            if entries:
                DBOS.apply_schedules(entries)
        _launched = True
        if schedules and start_hooks:
            run_start_hooks(runtime, modules)
        log.info("engine.launched", executor_id=runtime.settings.executor_id,
                 version=runtime.settings.application_version, schedules=schedules)


def run_start_hooks(runtime: Runtime, modules: list[ModuleType] | None = None) -> list[str]:
    """Call every area's ``at_start(settings)``; one that fails is logged, not fatal (the
    schedules still do the work, later). Returns what the hooks returned (workflow ids)."""
    started: list[str] = []
    for module in modules if modules is not None else load_workflow_modules():
        hook = getattr(module, "at_start", None)
        if hook is None:
            continue
        try:
            result = hook(runtime.settings)
        except Exception as error:  # noqa: BLE001 - a start hook must never stop the worker
            log.error("engine.start_hook_failed", module=module.__name__, error=str(error)[:300])
            continue
        if result:
            started.append(str(result))
    return started


def shutdown() -> None:
    global _launched
    with _lock:
        if _launched:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            _launched = False
        set_runtime(None)


def is_launched() -> bool:
    return _launched
