"""Fixtures for the reliability tests: one migrated database per module (migrations take seconds;
the hostile-input tests only need the tables, and clean the rows they touch between tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import ON_POSTGRES, PG_URL, _admin_url


@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from marketbridge.adapters.db.migrate import upgrade

    if not ON_POSTGRES:
        url = f"sqlite:///{tmp_path_factory.mktemp('reliability') / 'marketbridge.sqlite'}"
        upgrade(url)
        yield url
        return
    name = f"mb_rel_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
