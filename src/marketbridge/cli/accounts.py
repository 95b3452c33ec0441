"""Account and token lifecycle: ``users add|list|disable|enable|passwd``, ``tokens create|list|revoke``.

Every change is written to the audit log with the actor ``cli``. Passwords are prompted (hidden,
confirmed) unless ``--password`` is given for scripts; they must have at least 12 characters and
not be a common password (services.passwords). Disabling a user or changing its password ends
every console session it has. A token is printed once, when created; afterwards only its id,
label, dates and state are shown (only its SHA-256 is stored).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from marketbridge.cli.common import console, err_console, print_json, runtime_for_command
from marketbridge.domain.auth import Role

users_app = typer.Typer(help="People who log in to the console.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for the JSON API and /metrics.", no_args_is_help=True)

PasswordOption = Annotated[str | None, typer.Option(help="For scripts; prompted when omitted.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


def _fail(error: Exception) -> None:
    err_console.print(str(error), markup=False, highlight=False)
    raise typer.Exit(1) from None


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option(help="admin, ecommerce, ops, finance or customer_service.")],
    password: PasswordOption = None,
) -> None:
    """Create a console user (password hashed with argon2)."""
    from marketbridge.services import auth
    from marketbridge.services.issues import audit

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        try:
            user = auth.create_user(people, name, role, password)
        except auth.AuthError as error:
            _fail(error)
        audit(session, "cli", "user.add", "user", name, role=role.value)
        console.print(f"User {user.name} created with role {user.role}.")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """Every console user: role, whether active, when created, and how many live tokens."""
    from marketbridge.services import auth

    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        tokens = auth.list_tokens(people)
        rows: list[dict[str, Any]] = [
            {"name": u.name, "role": u.role, "active": u.active, "created_at": u.created_at,
             "active_tokens": sum(1 for t in tokens if t.user == u.name and t.state() == "active")}
            for u in auth.list_users(people)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table()
    for column in ("name", "role", "state", "created", "active tokens"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["role"], "active" if row["active"] else "disabled",
                      _when(row["created_at"]), str(row["active_tokens"]))
    console.print(table)


def _set_active(name: str, active: bool) -> None:
    from marketbridge.services import auth
    from marketbridge.services.issues import audit

    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        try:
            auth.set_active(people, name, active)
        except auth.AuthError as error:
            _fail(error)
        audit(session, "cli", "user.enable" if active else "user.disable", "user", name)
    console.print(f"User {name} {'enabled' if active else 'disabled; its console sessions have ended'}.")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Stop a user logging in or using its tokens; its console sessions end at once."""
    _set_active(name, False)


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Let a disabled user log in (with a new session) and use its tokens again."""
    _set_active(name, True)


@users_app.command("passwd")
def users_passwd(name: str, password: PasswordOption = None) -> None:
    """Set a new password; every console session of the user ends."""
    from marketbridge.services import auth
    from marketbridge.services.issues import audit

    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        try:
            auth.set_password(people, name, password)
        except auth.AuthError as error:
            _fail(error)
        audit(session, "cli", "user.passwd", "user", name)
    console.print(f"Password of {name} changed; its console sessions have ended.")


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    label: Annotated[str, typer.Option(help="A note to recognise the token.")] = "",
    expires_in_days: Annotated[int | None, typer.Option(
        "--expires-in-days", min=1, max=3650, help="Refuse the token after this many days (default: no expiry).")] = None,
) -> None:
    """Create an API token; the token alone is printed on the last line."""
    from marketbridge.services import auth
    from marketbridge.services.issues import audit

    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        try:
            account = auth.get_user(people, user)
            token = auth.create_token(people, account, label, expires_in_days=expires_in_days)
        except auth.AuthError as error:
            _fail(error)
        audit(session, "cli", "token.create", "user", user, label=label, expires_in_days=expires_in_days)
    err_console.print(f"Token for {user} (shown once, keep it secret):")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every token (never the token itself): id, user, label, created, last used, expiry, state."""
    from marketbridge.services import auth

    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        tokens = auth.list_tokens(people, user)
    if as_json:
        print_json([{"id": t.id, "user": t.user, "label": t.label, "created_at": t.created_at,
                     "last_used_at": t.last_used_at, "expires_at": t.expires_at, "state": t.state()} for t in tokens])
        return
    table = Table()
    for column in ("id", "user", "label", "created", "last used", "expires", "state"):
        table.add_column(column)
    for t in tokens:
        table.add_row(str(t.id), t.user, t.label, _when(t.created_at), _when(t.last_used_at),
                      _when(t.expires_at) if t.expires_at else "no expiry", t.state())
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The id shown by `tokens list`.", min=1, max=2**31 - 1)]) -> None:
    """Revoke a token: it is refused from now on."""
    from marketbridge.services import auth
    from marketbridge.services.issues import audit

    with runtime_for_command() as runtime, runtime.db.session() as session:
        people = runtime.people_store.on_session(session)
        try:
            info = auth.revoke_token(people, token_id)
        except auth.AuthError as error:
            _fail(error)
        audit(session, "cli", "token.revoke", "user", info.user, token_id=token_id, label=info.label)
    console.print(f"Token {token_id} of {info.user} revoked.")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
