"""Shared fixtures.

Database tier: every test that needs a database gets a fresh one. By default a SQLite file in a
temporary folder; when ``MARKETBRIDGE_DATABASE_URL`` points at PostgreSQL (the PostgreSQL tier in
``.ci/run``), a fresh PostgreSQL database per test, dropped afterwards.

Sandboxes: the Magento and Mirakl simulators served over real HTTP on loopback ports
(``sandboxes`` is shared by a whole module; ``fresh_sandboxes`` is new for one test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("MARKETBRIDGE_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")
TEST_SECRETS = {
    "magento_token": "sandbox-magento-token",
    "mirakl_api_key": "sandbox-mirakl-key",
}


def pytest_report_header(config: pytest.Config) -> str:
    return f"marketbridge database tier: {'PostgreSQL ' + make_url(PG_URL).render_as_string(hide_password=True) if ON_POSTGRES else 'SQLite'}"


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg", database="postgres").render_as_string(hide_password=False)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL for one test."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'marketbridge.sqlite'}"
        return
    name = f"mb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    from marketbridge.adapters.db.migrate import upgrade

    upgrade(db_url)
    return db_url


@dataclass
class Sandboxes:
    magento_url: str
    mirakl_url: str
    magento_app: Any
    mirakl_app: Any
    servers: list[Any]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_sandboxes(products: int = 120, seed: int = 7, **magento_kwargs: Any) -> Sandboxes:
    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.magento.app import create_app as create_magento
    from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
    from marketbridge.sandbox.server import serve_in_thread

    catalogue = seed_catalogue(products, seed)
    magento_app = create_magento(catalogue, **magento_kwargs)
    mirakl_app = create_mirakl(catalogue, rate_scale=0.01)
    magento = serve_in_thread(magento_app)
    mirakl = serve_in_thread(mirakl_app)
    return Sandboxes(magento.url, mirakl.url, magento_app, mirakl_app, [magento, mirakl])


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    boxes = start_sandboxes()
    yield boxes
    boxes.stop()


@pytest.fixture
def fresh_sandboxes() -> Iterator[Sandboxes]:
    boxes = start_sandboxes()
    yield boxes
    boxes.stop()


def make_settings(db_url: str, boxes: Sandboxes | None = None, **overrides: Any) -> Any:
    from marketbridge.settings import load_settings

    values: dict[str, Any] = {"database_url": db_url, "mirakl_rate_limit_scale": 0.01}
    if boxes is not None:
        values["magento_base_url"] = boxes.magento_url
        values["mirakl_base_url"] = boxes.mirakl_url
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(migrated_db_url: str) -> Any:
    return make_settings(migrated_db_url)


@pytest.fixture
def runtime(settings: Any) -> Iterator[Any]:
    from marketbridge.runtime import build_runtime

    rt = build_runtime(settings)
    yield rt
    rt.close()
