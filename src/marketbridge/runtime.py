"""The composition root: one ``Runtime`` per process holds the settings, the database and the two
API clients, built once and handed to services. DBOS workflows and steps are module-level
functions, so they reach the runtime through :func:`get_runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.db.session import Database
from marketbridge.settings import Settings

if TYPE_CHECKING:
    from marketbridge.adapters.magento.client import MagentoClient
    from marketbridge.adapters.mirakl.client import MiraklClient


@dataclass
class Runtime:
    settings: Settings
    db: Database
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def magento(self) -> MagentoClient:
        from marketbridge.adapters.magento.client import MagentoClient

        return MagentoClient.from_settings(self.settings)

    @cached_property
    def mirakl(self) -> MiraklClient:
        from marketbridge.adapters.mirakl.client import MiraklClient

        return MiraklClient.from_settings(self.settings)

    def close(self) -> None:
        for name in ("magento", "mirakl"):
            client = self.__dict__.get(name)
            if client is not None and hasattr(client, "close"):
                client.close()
        dbos_client = self.extras.pop("dbos_client", None)
        if dbos_client is not None:
            dbos_client.destroy()
        self.db.dispose()


_current: Runtime | None = None


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, db=Database(settings.database_url))


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def get_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("marketbridge runtime not started: call marketbridge.workflows.engine.launch() first")
    return _current
