"""Core commands: ``db upgrade``, ``run``, ``check``, ``version`` (``users`` and ``tokens``: cli.accounts)."""

from __future__ import annotations

from typing import Annotated

import typer

from marketbridge.cli.common import console, err_console, runtime_for_command, settings_or_exit
from marketbridge.settings import Settings

db_app = typer.Typer(help="The database (SQLite file or PostgreSQL).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate marketbridge's tables to the latest version."""
    from marketbridge.adapters.db.migrate import current, upgrade

    settings = settings_or_exit()
    upgrade(settings.database_url)
    console.print(f"Database is at revision {current(settings.database_url)}.")


def run(
    port: Annotated[int | None, typer.Option(help="Web port (default MARKETBRIDGE_WEB_PORT, 8100).")] = None,
    host: Annotated[str | None, typer.Option(help="Web host (default 127.0.0.1).")] = None,
    no_schedules: Annotated[bool, typer.Option("--no-schedules", help="Run workflows but no cron schedules.")] = False,
) -> None:
    """Run the service: web (webhooks, API, dashboard), the workflow worker and the schedules."""
    from marketbridge.adapters.db.migrate import upgrade
    from marketbridge.adapters.db.runlock import RunLockHeld, acquire_run_lock
    from marketbridge.bootstrap import build_runtime
    from marketbridge.cli.serve import serve
    from marketbridge.memory import limit_malloc_arenas
    from marketbridge.web.app import create_app
    from marketbridge.workflows.maintenance import Heartbeat

    limit_malloc_arenas()  # before any worker thread exists
    settings = settings_or_exit()
    _session_secret_or_exit(settings)
    if host:  # the bind address decides whether cookies are Secure by default (settings.cookies_secure)
        settings = settings.model_copy(update={"web_host": host})
    try:  # SQLite is one process: a second run on the same file is refused before it touches it
        run_lock = acquire_run_lock(settings.database_url)
    except RunLockHeld as error:
        err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    heartbeat = Heartbeat(runtime)
    heartbeat.start()
    # The start hooks (the stock catch-up) run once the socket accepts webhooks: see cli.serve.
    app = create_app(runtime, start_engine=True, schedules=not no_schedules, start_hooks=False)
    bind_host = settings.web_host
    bind_port = port or settings.web_port
    err_console.print(f"marketbridge serving on http://{bind_host}:{bind_port} (executor {settings.executor_id})")
    try:
        serve(app, host=bind_host, port=bind_port,
              on_listening=runtime.engine.run_start_hooks if not no_schedules else lambda: None)
    finally:
        heartbeat.stop()
        runtime.close()
        if run_lock is not None:
            run_lock.release()


def _session_secret_or_exit(settings: Settings) -> None:
    """No web console without a strong cookie-signing secret: one line naming the variable, exit 2."""
    from marketbridge import session_secret
    from marketbridge.settings import SettingsError

    try:
        session_secret.require(settings.session_secret)
    except SettingsError as error:
        err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)  # one line, unwrapped
        raise SystemExit(2) from None


def version() -> None:
    """Print the version."""
    from marketbridge import __version__

    typer.echo(__version__)


def register(app: typer.Typer) -> None:
    from marketbridge.cli import accounts

    app.add_typer(db_app, name="db")
    accounts.register(app)
    app.command("run")(run)
    app.command("version")(version)
    app.command("check")(check)


def check() -> None:
    """Test both connections as before going live, and say in plain words what works and what to fix."""
    from rich.table import Table

    from marketbridge.services.check import run_checks

    with runtime_for_command(migrate=False) as runtime:
        results = run_checks(runtime)
    table = Table(show_lines=False)
    for column in ("", "system", "check", "result"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row("[green]ok[/green]" if r.ok else "[red]FIX[/red]", r.system, r.name, r.message)
    console.print(table)
    failed = [r for r in results if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} check(s) need attention before going live.[/red]")
        raise typer.Exit(1)
    console.print("[green]Both connections work.[/green]")
