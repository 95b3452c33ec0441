"""Where DBOS keeps its records on SQLite: a file of its own beside ours (one write lock each)."""

import sqlite3
from pathlib import Path

from marketbridge.adapters.db.engine_store import (
    engine_database_url,
    engine_file_for,
    holds_engine_tables,
    sqlite_file,
)
from marketbridge.settings import load_settings


def test_a_sqlite_database_gets_an_engine_file_beside_it(tmp_path: Path) -> None:
    main = tmp_path / "marketbridge.sqlite"
    assert engine_database_url(f"sqlite:///{main}") == f"sqlite:///{tmp_path / 'marketbridge.engine.sqlite'}"
    assert engine_file_for(tmp_path / "data") == tmp_path / "data.engine"


def test_postgresql_and_in_memory_sqlite_keep_one_database() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert engine_database_url(url) == url
    assert engine_database_url("sqlite://") == "sqlite://"
    assert engine_database_url("sqlite:///:memory:") == "sqlite:///:memory:"
    assert sqlite_file(url) is None


def test_a_configured_engine_url_wins(tmp_path: Path) -> None:
    configured = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    assert engine_database_url(f"sqlite:///{tmp_path / 'mb.sqlite'}", configured) == configured
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'mb.sqlite'}",
                             engine_database_url="postgres://postgres@127.0.0.1:5432/engine")
    assert settings.workflow_database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/engine"


def test_an_install_whose_engine_records_are_in_the_main_file_keeps_them_there(tmp_path: Path) -> None:
    """Work left unfinished before the upgrade must still be recovered, so nothing moves by itself."""
    main = tmp_path / "marketbridge.sqlite"
    with sqlite3.connect(main) as conn:
        conn.execute("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY)")
    assert holds_engine_tables(main)
    assert engine_database_url(f"sqlite:///{main}") == f"sqlite:///{main}"
    # once an engine file exists it is the one, whatever the main file holds
    engine_file_for(main).touch()
    assert engine_database_url(f"sqlite:///{main}") == f"sqlite:///{engine_file_for(main)}"


def test_the_check_never_creates_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.sqlite"
    assert not holds_engine_tables(missing)
    assert engine_database_url(f"sqlite:///{missing}").endswith("absent.engine.sqlite")
    assert not missing.exists()
