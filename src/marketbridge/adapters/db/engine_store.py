"""Where the workflow engine (DBOS) keeps its records: beside the SQLite file, not in it.

Why: SQLite has one writer per file. DBOS writes a row for every workflow it starts and every
step it finishes, so in one file those writes and ours take turns. Profiled under the full soak
(one worker, 22 stock webhooks a second), webhook requests spent 86 % of their time waiting for a
connection of our pool, whose 15 connections were all held by threads waiting for the file's write
lock, itself taken most often by DBOS (``init_workflow`` alone was a third of the waits). A second
file gives DBOS a write lock of its own. Nothing needs the two in one transaction: marketbridge
never uses DBOS transactions, and every enqueue is its own DBOS write already.

The choice, for ``MARKETBRIDGE_DATABASE_URL=sqlite:///path/marketbridge.sqlite``:

* ``MARKETBRIDGE_ENGINE_DATABASE_URL`` when set (any SQLite or PostgreSQL URL);
* otherwise ``path/marketbridge.engine.sqlite``;
* except an existing database whose engine records are already inside the main file (an install
  from before this change) and that has no engine file yet: it keeps them there, so that a
  workflow left unfinished before the upgrade is still recovered. Moving is then a choice (stop
  the service with no work pending, set the variable or delete the engine tables).

PostgreSQL keeps one database (DBOS uses its ``dbos`` schema; the server has no single write lock).
In-memory SQLite keeps its one URL (a second in-memory database would be another database).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

ENGINE_TABLE = "workflow_status"


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database.removeprefix("file:").split("?", 1)[0])


def engine_file_for(database_file: Path) -> Path:
    """``marketbridge.sqlite`` → ``marketbridge.engine.sqlite`` (``db`` → ``db.engine``)."""
    if database_file.suffix:
        return database_file.with_name(f"{database_file.stem}.engine{database_file.suffix}")
    return database_file.with_name(f"{database_file.name}.engine")


def holds_engine_tables(path: Path) -> bool:
    """Does this SQLite file exist and hold DBOS's tables? Read-only; never creates the file."""
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ENGINE_TABLE,)).fetchone()
        return row is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def engine_database_url(database_url: str, configured: str | None = None) -> str:
    """The URL DBOS gets as its system database (see the module docstring for the rule)."""
    if configured:
        return configured
    main = sqlite_file(database_url)
    if main is None:
        return database_url
    engine_file = engine_file_for(main)
    if not engine_file.exists() and holds_engine_tables(main):
        return database_url
    return f"sqlite:///{engine_file}"


def prepare_engine_file(url: str) -> None:
    """Put a SQLite engine file in write-ahead-log mode before DBOS opens it.

    Our own connections switch our file to WAL (``session.make_engine``); DBOS's do not, and in a
    file of its own the engine would run in rollback-journal mode, where a reader blocks the
    writer: its queue polling and listing would hold up every step record. The mode is stored in
    the file, so once is enough; this is a no-op for PostgreSQL, in-memory SQLite, or a file
    already in WAL mode."""
    path = sqlite_file(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


__all__ = ["engine_database_url", "engine_file_for", "holds_engine_tables", "prepare_engine_file", "sqlite_file"]
