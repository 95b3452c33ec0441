"""Core commands: ``db upgrade``, ``run``, ``users add``, ``tokens create``, ``version``."""

from __future__ import annotations

from typing import Annotated

import typer

from marketbridge.cli.common import console, err_console, runtime_for_command, settings_or_exit
from marketbridge.domain.auth import Role
from marketbridge.settings import Settings

db_app = typer.Typer(help="The database (SQLite file or PostgreSQL).", no_args_is_help=True)
users_app = typer.Typer(help="People who log in to the console.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for the JSON API and /metrics.", no_args_is_help=True)


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
    import uvicorn

    from marketbridge.adapters.db.migrate import upgrade
    from marketbridge.memory import limit_malloc_arenas
    from marketbridge.runtime import build_runtime
    from marketbridge.web.app import create_app
    from marketbridge.workflows.maintenance import Heartbeat

    limit_malloc_arenas()  # before any worker thread exists
    settings = settings_or_exit()
    _session_secret_or_exit(settings)
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    heartbeat = Heartbeat(runtime)
    heartbeat.start()
    app = create_app(runtime, start_engine=True, schedules=not no_schedules)
    bind_host = host or settings.web_host
    bind_port = port or settings.web_port
    err_console.print(f"marketbridge serving on http://{bind_host}:{bind_port} (executor {settings.executor_id})")
    try:
        uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", access_log=False)
    finally:
        heartbeat.stop()
        runtime.close()


def _session_secret_or_exit(settings: Settings) -> None:
    """No web console without a strong cookie-signing secret: one line naming the variable, exit 2."""
    from marketbridge import session_secret
    from marketbridge.settings import SettingsError

    try:
        session_secret.require(settings.session_secret)
    except SettingsError as error:
        err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)  # one line, unwrapped
        raise SystemExit(2) from None


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option(help="admin, ecommerce, ops, finance or customer_service.")],
    password: Annotated[str | None, typer.Option(help="For scripts; prompted when omitted.")] = None,
) -> None:
    """Create a console user (password hashed with argon2)."""
    from marketbridge.services import auth
    from marketbridge.services.exceptions import audit

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime_for_command() as runtime, runtime.db.session() as session:
        try:
            user = auth.create_user(session, name, role, password)
        except auth.AuthError as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        audit(session, "cli", "user.add", "user", name, role=role.value)
        console.print(f"User {user.name} created with role {user.role}.")


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    label: Annotated[str, typer.Option(help="A note to recognise the token.")] = "",
) -> None:
    """Create an API token; the token alone is printed on the last line."""
    from marketbridge.services import auth
    from marketbridge.services.exceptions import audit

    with runtime_for_command() as runtime, runtime.db.session() as session:
        try:
            account = auth.get_user(session, user)
        except auth.AuthError as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        token = auth.create_token(session, account, label)
        audit(session, "cli", "token.create", "user", user, label=label)
    err_console.print(f"Token for {user} (shown once, keep it secret):")
    typer.echo(token)


def version() -> None:
    """Print the version."""
    from marketbridge import __version__

    typer.echo(__version__)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
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
