"""What every command shares: settings loaded once with a one-line error, a runtime, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from marketbridge.call_flow import acting_as
from marketbridge.logging import configure_logging
from marketbridge.runtime import Runtime
from marketbridge.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        err_console.print(str(error), markup=False, highlight=False)
        raise SystemExit(2) from None
    configure_logging(settings)
    return settings


@contextmanager
def runtime_for_command(*, migrate: bool = True, engine: bool = False) -> Iterator[Runtime]:
    """A runtime for one CLI command; with ``engine`` DBOS is launched (no schedules)."""
    from marketbridge.adapters.db.migrate import upgrade

    # imported here, not at the top: bootstrap imports every flow and the engine (~0.3 s), which
    # `--help` and commands that need no runtime should not pay for
    from marketbridge.bootstrap import build_runtime

    settings = settings_or_exit()
    if migrate:
        upgrade(settings.database_url)
    runtime = build_runtime(settings)
    if engine:
        runtime.engine.launch(schedules=False)
    try:
        with acting_as("cli"):  # marketplace calls made here count for a person at the command line
            yield runtime
    finally:
        if engine:
            runtime.engine.shutdown()
        runtime.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
