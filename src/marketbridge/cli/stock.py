"""CLI of the stock and price flow.

* ``marketbridge stock show SKU`` / ``stock list`` / ``stock batches`` / ``stock summary``
* ``marketbridge rules list`` / ``rules add`` / ``rules remove``
* ``marketbridge sync stock [--full] [--wait]``: re-read changed SKUs (poll) or every SKU (``--full``)
  into the outbox with a progress bar; the running service pushes them, or ``--wait`` pushes them
  from this process (window by window) and returns when the marketplace has processed them.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from marketbridge.cli.common import console, err_console, print_json, runtime_for_command
from marketbridge.domain.stock import Kind, RuleError, Scope

stock_app = typer.Typer(help="Stock and price of each SKU on the marketplace.", no_args_is_help=True)
rules_app = typer.Typer(help="Channel rules for stock (buffer, allocation...) and price (markup...).",
                        no_args_is_help=True)
sync_app = typer.Typer(help="Synchronise now instead of waiting for the schedule.", no_args_is_help=True)


@stock_app.command("show")
def show(sku: str, as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
         history: Annotated[int, typer.Option(min=0, max=500, help="Also list the last N pushed values.")] = 0) -> None:
    """Magento qty, published qty, rule applied, last push, import id, result and latency of a SKU."""
    from marketbridge.services.stock.state import sku_history, sku_view

    with runtime_for_command() as runtime, runtime.db.session() as session:
        view = sku_view(session, sku)
        past = sku_history(session, sku, limit=history) if history else []
    if view is None:
        err_console.print(f"No stock state for SKU {sku!r} yet (it has not been read from Adobe Commerce).")
        raise typer.Exit(1)
    if as_json:
        data = view.model_dump(mode="json")
        if history:  # the view's JSON, then the history (the --json shape since before the typed views)
            data["history"] = [h.model_dump(mode="json") for h in past]
        print_json(data)
        return
    table = Table("", "stock", "price", title=f"SKU {sku}")
    s, p = view.stock, view.price
    rows = [
        ("in Adobe Commerce", s.magento_salable_qty, p.magento_price),
        ("to publish", s.target_qty, p.target_price),
        ("rule applied", s.rule_applied, p.rule_applied),
        ("published", s.published_qty, p.published_price),
        ("last pushed", s.last_pushed_at, p.last_pushed_at),
        ("import id", s.import_id, p.import_id),
        ("result", s.result + (f": {s.message}" if s.message else ""),
         p.result + (f": {p.message}" if p.message else "")),
        ("latency (s)", _seconds(s.latency_seconds), _seconds(p.latency_seconds)),
        ("waiting in outbox", json.dumps(s.outbox.model_dump(mode="json")) if s.outbox else "-",
         json.dumps(p.outbox.model_dump(mode="json")) if p.outbox else "-"),
    ]
    for label, a, b in rows:
        table.add_row(label, "-" if a in (None, "") else str(a), "-" if b in (None, "") else str(b))
    console.print(table)
    product = view.product
    console.print(f"enabled={product.enabled} type={product.type_id} manage_stock={product.manage_stock} "
                  f"last noticed {view.last_noticed_at}")
    if past:
        table = Table("completed", "kind", "value", "result", "latency s", "batch", title="History")
        for h in past:
            table.add_row((h.completed_at or "")[:19], h.kind, h.value, h.result +
                          (f": {h.message}" if h.message else ""), _seconds(h.latency_seconds) or "-",
                          str(h.batch_id))
        console.print(table)


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


@stock_app.command("list")
def list_skus(
    result: Annotated[str | None, typer.Option(help="Only SKUs whose last result is ok, error or pending.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SKUs and their published values."""
    from marketbridge.services.stock.state import list_states

    with runtime_for_command() as runtime, runtime.db.session() as session:
        rows = list_states(session, result=result, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("sku", "magento", "target", "published", "stock result", "price", "published price", "latency s")
    for r in rows:
        table.add_row(r.sku, str(r.magento_qty), str(r.target_qty), str(r.published_qty),
                      r.stock_result, str(r.target_price), str(r.published_price),
                      _seconds(r.latency_seconds) or "-")
    console.print(table)


@stock_app.command("batches")
def batches(limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The latest imports sent to the marketplace, newest first."""
    from marketbridge.services.stock.state import list_batches

    with runtime_for_command() as runtime, runtime.db.session() as session:
        rows = list_batches(session, limit=limit)
    if as_json:
        print_json([b.model_dump(mode="json") for b in rows])
        return
    table = Table("id", "api", "state", "import id", "skus", "ok", "errors", "sent", "completed")
    for b in rows:
        table.add_row(str(b.id), b.api, b.state, str(b.import_id or "-"), str(b.skus), str(b.ok),
                      str(b.errors), (b.sent_at or "-")[:19], (b.completed_at or "-")[:19])
    console.print(table)


@stock_app.command("summary")
def summary() -> None:
    """Counts: SKUs known, waiting, pending, in flight, in error; the import lanes."""
    from marketbridge.services.stock.state import summary as build

    with runtime_for_command() as runtime, runtime.db.session() as session:
        print_json(build(session).model_dump(mode="json"))


# ------------------------------------------------------------------------------------------ rules
@rules_app.command("list")
def rules_list(kind: Annotated[Kind | None, typer.Option(help="stock or price")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every stored rule. The most specific wins field by field: global < category < attribute < sku."""
    from marketbridge.services.stock.rules import list_rules

    with runtime_for_command() as runtime, runtime.db.session() as session:
        rows = list_rules(session, kind)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print("No rules: quantities are Magento's salable quantity, prices Magento's price.")
        return
    table = Table("id", "kind", "scope", "key", "settings", "note")
    for r in rows:
        table.add_row(str(r.id), r.kind, r.scope, r.scope_key or "-",
                      ", ".join(f"{k}={v}" for k, v in r.params.items()), r.note)
    console.print(table)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise RuleError(f"{pair!r} is not field=value")
        key, value = pair.split("=", 1)
        params[key.strip()] = value.strip()
    return params


@rules_app.command("add")
def rules_add(
    kind: Annotated[Kind, typer.Argument(help="stock or price")],
    scope: Annotated[Scope, typer.Argument(help="global, category, attribute or sku")],
    settings: Annotated[list[str], typer.Argument(help="field=value ... e.g. buffer=2 max_quantity=10, "
                                                       "markup_percent=10 rounding=0.99")],
    key: Annotated[str, typer.Option(help="The SKU, category id, or attribute code=value.")] = "",
    note: Annotated[str, typer.Option(help="Why this rule exists.")] = "",
    actor: Annotated[str, typer.Option(help="Who is acting (audit log).")] = "cli",
) -> None:
    """Add a rule (or replace the one with the same kind, scope and key); SKUs are recomputed."""
    from marketbridge.services.stock.poll import reapply_rules
    from marketbridge.services.stock.rules import put_rule

    with runtime_for_command() as runtime:
        try:
            with runtime.db.session() as session:
                rule = put_rule(session, kind, scope, key, _parse_params(settings), actor=actor, note=note)
        except RuleError as error:
            err_console.print(f"Rule not saved: {error}")
            raise typer.Exit(2) from None
        applied = reapply_rules(runtime)
    console.print(f"Rule {rule.id} saved. {applied.stock_enqueued} stock and {applied.price_enqueued} price "
                  "values changed and are queued for the marketplace.")


@rules_app.command("remove")
def rules_remove(rule_id: int, actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Remove a rule; SKUs are recomputed."""
    from marketbridge.services.stock.poll import reapply_rules
    from marketbridge.services.stock.rules import remove_rule

    with runtime_for_command() as runtime:
        try:
            with runtime.db.session() as session:
                remove_rule(session, rule_id, actor=actor)
        except RuleError as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        applied = reapply_rules(runtime)
    console.print(f"Rule {rule_id} removed. {applied.stock_enqueued} stock and {applied.price_enqueued} price "
                  "values changed and are queued.")


# ------------------------------------------------------------------------------------------ sync
@sync_app.command("stock")
def sync_stock(
    full: Annotated[bool, typer.Option("--full", help="Re-read every SKU and push all of them.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Push from this process and wait for the "
                                       "marketplace (default: leave it to the running service).")] = False,
) -> None:
    """Find changed SKUs now (or every SKU with --full) and queue them for the marketplace."""
    from marketbridge.services.stock import poll as stock_poll
    from marketbridge.services.stock import push as stock_push

    started = time.monotonic()
    with runtime_for_command() as runtime:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console) as progress:
            if full:
                tasks: dict[str, TaskID] = {}

                def report(phase: str, advance: int, total: int | None) -> None:
                    labels = {"products": "Reading products", "stock": "Reading source items",
                              "exact": "Reading salable qty (open orders)", "apply": "Applying rules"}
                    if phase not in tasks:
                        tasks[phase] = progress.add_task(labels.get(phase, phase), total=total)
                    if total is not None:
                        progress.update(tasks[phase], total=total)
                    if advance:
                        progress.advance(tasks[phase], advance)

                result = stock_poll.full_resync(runtime, progress=report)
                queued = (result.applied.stock_enqueued, result.applied.price_enqueued)
                summary = f"{result.skus} SKUs read in {result.seconds:.1f} s"
            else:
                task = progress.add_task("Polling Adobe Commerce for changes", total=None)
                polled = stock_poll.poll(runtime)
                progress.update(task, total=1, completed=1)
                queued = (polled.refresh.applied.stock_enqueued, polled.refresh.applied.price_enqueued)
                summary = (f"{polled.source_changes} source-item changes, {polled.order_skus} SKUs on recent orders, "
                           f"{polled.product_skus} products saved")
            if wait:
                task = progress.add_task("Pushing to the marketplace", total=None)
                outcomes = stock_push.push_now(runtime)
                progress.update(task, total=1, completed=1)
        console.print(f"{summary}; {queued[0]} stock and {queued[1]} price values queued.")
        if wait:
            for outcome in outcomes:
                console.print(f"  batch {outcome.batch_id} {outcome.api or ''}: {outcome.state} "
                              f"ok={'-' if outcome.ok is None else outcome.ok} "
                              f"errors={'-' if outcome.errors is None else outcome.errors}")
            console.print(f"Done in {time.monotonic() - started:.1f} s.")
        else:
            console.print("The running service (marketbridge run) pushes them within a minute.")


def register(app: typer.Typer) -> None:
    app.add_typer(stock_app, name="stock")
    app.add_typer(rules_app, name="rules")
    app.add_typer(sync_app, name="sync")
