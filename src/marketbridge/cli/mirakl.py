"""``marketbridge mirakl budgets``: the console's "Marketplace budgets" page at the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from marketbridge.call_flow import FLOWS
from marketbridge.cli.common import console, print_json, runtime_for_command
from marketbridge.domain.budgets import in_words, pace_words
from marketbridge.services import budgets as budget_service

mirakl_app = typer.Typer(help="The marketplace (Mirakl) API as this service uses it.", no_args_is_help=True)


@mirakl_app.command("budgets")
def budgets(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Each Mirakl API's call budget: limit, calls in the last minute and hour per flow, next free
    slot, and the flows waiting for one."""
    with runtime_for_command() as runtime:
        report = budget_service.report(runtime)
    if as_json:
        print_json(report.as_dict())
        return
    table = Table("API", "allowed", "last minute", "last hour", "by flow (min / hour)", "next free slot",
                  title="Marketplace budgets")
    for b in report.apis:
        allowed = f"{b.per_minute}/min, {b.per_hour}/h ({pace_words(b.pace)})" if b.per_hour else pace_words(b.pace)
        flows = "\n".join(f"{FLOWS.get(f.flow, f.flow)}: {f.last_minute} / {f.last_hour}" for f in b.flows) or "-"
        table.add_row(b.api, allowed, f"{b.last_minute}" + (f" of {b.per_minute}" if b.per_minute else ""),
                      f"{b.last_hour}" + (f" of {b.per_hour}" if b.per_hour else ""), flows,
                      "now" if b.next_free_in <= 0 else f"in {in_words(b.next_free_in)}",
                      style="red" if b.over else None)
    console.print(table)
    lines = report.deferral_lines()
    if lines:
        console.print("Flows that had to wait:", markup=False)
        for line in lines:
            console.print(f"  {line}", markup=False, highlight=False)
    else:
        console.print("No flow has had to wait for the marketplace in the last day.")
    for note in report.notes:
        console.print(note, style="dim", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(mirakl_app, name="mirakl")


__all__ = ["register"]
