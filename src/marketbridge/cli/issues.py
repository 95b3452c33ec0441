"""``marketbridge exceptions list``: what needs a person, by team and state (issues in code; the
command keeps the word the teams use)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from marketbridge.cli.common import console, print_json, runtime_for_command
from marketbridge.domain.issues import IssueState, Team
from marketbridge.services import issues as issue_service

issues_app = typer.Typer(help="Problems that need a person, each owned by a team.", no_args_is_help=True)


@issues_app.command("list")
def list_issues(
    owner: Annotated[Team | None, typer.Option(help="Only this team's exceptions.")] = None,
    state: Annotated[IssueState | None, typer.Option(help="Only this state (default: open and acknowledged).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 200,
) -> None:
    """List exception records, newest first."""
    filters = issue_service.IssueFilter(
        owner=owner, state=state, active_only=state is None, limit=limit
    )
    with runtime_for_command() as runtime, runtime.db.session() as session:
        records = [issue_service.to_dict(r) for r in issue_service.list_records(session, filters)]
    if as_json:
        print_json(records)
        return
    if not records:
        console.print("No exceptions match. Nothing needs anyone right now.")
        return
    table = Table("id", "team", "severity", "type", "object", "message", "count", "last seen")
    for r in records:
        table.add_row(
            str(r["id"]), r["owner"], r["severity"], r["type"], f'{r["object_type"]} {r["object_id"]}',
            r["message"], str(r["count"]), r["last_seen"][:19],
        )
    console.print(table)


@issues_app.command("act")
def act_on_issue(
    record_id: int,
    action: Annotated[str, typer.Argument(help="acknowledge | resolve | ignore | reopen | assign")],
    assignee: Annotated[str | None, typer.Option(help="With assign: who takes it.")] = None,
    actor: Annotated[str, typer.Option(help="Who is acting (written to the audit log).")] = "cli",
) -> None:
    """Acknowledge, resolve, ignore, reopen or assign an exception record."""
    with runtime_for_command() as runtime, runtime.db.session() as session:
        try:
            record_ = issue_service.act(session, record_id, action, actor=actor, assignee=assignee)
        except (LookupError, issue_service.ActionNotAllowed) as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
        console.print(f"Exception {record_.id} is now {record_.state}.")


def register(app: typer.Typer) -> None:
    app.add_typer(issues_app, name="exceptions")
