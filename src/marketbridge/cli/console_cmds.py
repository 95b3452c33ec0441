"""Console commands: ``guide update`` (regenerate the exception sections of the operating guide)
and ``alerts urgent|digest`` (send alerts now, as the schedules would)."""

from __future__ import annotations

from typing import Annotated

import typer

from marketbridge.cli.common import console, err_console, print_json, runtime_for_command

guide_app = typer.Typer(help="The operating guide in docs/operations.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts to the teams (apprise URLs per team).", no_args_is_help=True)


@guide_app.command("update")
def guide_update() -> None:
    """Rewrite each team guide's exception-type section from the exception declarations in the code."""
    from marketbridge.web.console_guide import guide_dir, update_guides

    changed = update_guides()
    if changed:
        for path in changed:
            console.print(f"updated {path}")
    else:
        console.print(f"The guides in {guide_dir()} already cover every exception type.")


@guide_app.command("check")
def guide_check() -> None:
    """Exit 1 if a declared exception type is missing from its owning team's guide."""
    from marketbridge.web.console_guide import missing_from_guides

    missing = missing_from_guides()
    if missing:
        for team, code in missing:
            err_console.print(f"{code} is not in the {team} guide")
        raise typer.Exit(1)
    console.print("Every exception type is in its team's guide.")


def _send(kind: str, as_json: bool) -> None:
    from marketbridge.adapters.notify.apprise_notifier import AppriseNotifier
    from marketbridge.services import alerts

    with runtime_for_command() as runtime, runtime.alerts_store.unit_of_work() as repo:
        sender = alerts.send_urgent if kind == "urgent" else alerts.send_digest
        run = sender(repo, AppriseNotifier(), runtime.settings)
    summary = {"sent": run.sent, "skipped_no_url": run.skipped_no_url, "failed": run.failed}
    if as_json:
        print_json(summary)
    else:
        for team, n in run.sent.items():
            console.print(f"{team}: sent ({n} problems)")
        for team, n in run.skipped_no_url.items():
            console.print(f"{team}: {n} problems, but no MARKETBRIDGE_ALERT_URLS_{team.upper()} configured")
        for team, n in run.failed.items():
            err_console.print(f"{team}: delivery failed ({n} problems); will retry")
        if not (run.sent or run.skipped_no_url or run.failed):
            console.print("Nothing to send.")
    if run.failed:
        raise typer.Exit(1)


@alerts_app.command("urgent")
def alerts_urgent(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False) -> None:
    """Send urgent (critical) exceptions not alerted yet, now."""
    _send("urgent", as_json)


@alerts_app.command("digest")
def alerts_digest(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False) -> None:
    """Send the daily digest now."""
    _send("digest", as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(guide_app, name="guide")
    app.add_typer(alerts_app, name="alerts")
