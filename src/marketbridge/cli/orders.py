"""``marketbridge orders list|show|pull|accept|refuse|retry|feed``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from marketbridge.adapters.errors import IntegrationError
from marketbridge.bus import OrderRetryRequested
from marketbridge.cli.common import console, err_console, print_json, runtime_for_command
from marketbridge.domain.orders import OrderState
from marketbridge.services import orders as order_service

orders_app = typer.Typer(help="Marketplace orders: their state, and decisions on held ones.", no_args_is_help=True)


@orders_app.command("list")
def list_orders(
    state: Annotated[OrderState | None, typer.Option(help="Only orders in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List marketplace orders, newest first."""
    with runtime_for_command() as runtime, runtime.orders_store.unit_of_work() as orders:
        rows = [order_service.to_dict(o) for o in order_service.list_orders(
            orders, runtime.settings, state=state.value if state else None, limit=limit)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No marketplace orders yet.")
        return
    table = Table("order", "state", "marketplace", "total", "Magento", "since")
    for r in rows:
        totals = r["marketplace_totals"]
        table.add_row(r["order_id"], r["state"], r["marketplace_state"],
                      f'{totals["grand_total"]:.2f} {r["currency"]}', r["magento_increment_id"] or "-",
                      (r["state_changed_at"] or "")[:19])
    console.print(table)


@orders_app.command("show")
def show_order(order_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One order with its lines, decision and history."""
    with runtime_for_command() as runtime, runtime.orders_store.unit_of_work() as orders:
        detail = order_service.find_order_detail(orders, runtime.settings, order_id)
    if detail is None:
        err_console.print(f"No marketplace order {order_id}.")
        raise typer.Exit(1)
    data = detail.model_dump(by_alias=True)
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{data['order_id']}[/bold]  {data['state']}  (marketplace {data['marketplace_state']})")
    console.print(f"Magento: {data['magento_increment_id'] or '-'}   acceptance deadline: {data['acceptance_deadline']}")
    if data["reason"]:
        console.print(f"Reason: {data['reason']}")
    lines = Table("line", "offer SKU", "Magento SKU", "match", "qty", "price", "accepted", "reasons")
    for line in data["lines"]:
        lines.add_row(line["order_line_id"], repr(line["offer_sku"]), line["magento_sku"] or "-", line["sku_match"] or "-",
                      str(line["quantity"]), f'{line["price"]:.2f}', str(line["accepted"]), ", ".join(line["reasons"]))
    console.print(lines)
    history = Table("at", "from", "to", "by")
    for t in data["transitions"]:
        history.add_row((t["at"] or "")[:19], t["from"] or "-", t["to"], t["actor"])
    console.print(history)


@orders_app.command("pull")
def pull(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run the orders poll now and start the work each order needs (as the schedule does). With
    the order feed on (the default) the poll reads no OR11: the feed does (``orders feed``)."""
    from marketbridge.workflows import orders as order_workflows

    with runtime_for_command(engine=True):
        with console.status("Reading orders from the marketplace..."):
            try:
                result = order_workflows.run_poll_now()
            except IntegrationError as error:
                err_console.print(f"The marketplace could not be read: {error}")
                raise typer.Exit(1) from None
    if as_json:
        print_json(result)
        return
    if result.get("source") == "order feed":  # the default (issue 20): the poll itself reads no OR11
        console.print("The order feed reads the marketplace's orders (`marketbridge orders feed --once` reads "
                      f"now); this poll read none. {result['enqueued']} queued for work.")
        return
    console.print(f"Read {result['fetched']} orders: {result['stored']} new or changed, {result['duplicates']} "
                  f"already known, {len(result['failed'])} failed. {result['enqueued']} queued for work.")


def _decide(order_id: str, accept: bool, actor: str) -> None:
    with runtime_for_command() as runtime:
        try:
            result = order_service.decide_by_person(runtime, order_id, accept, actor=actor)
        except LookupError:
            err_console.print(f"No marketplace order {order_id}.")
            raise typer.Exit(1) from None
        except order_service.DecisionNotAllowed as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        except IntegrationError as error:
            err_console.print(f"The marketplace failed: {error}")
            raise typer.Exit(1) from None
    if result.rejected:
        err_console.print(f"The marketplace rejected the decision: {result.rejected}. Order is now {result.state}.")
        raise typer.Exit(1)
    console.print(f"Order {order_id} is now {result.state}.")


@orders_app.command("accept")
def accept(order_id: str, actor: Annotated[str, typer.Option(help="Who decides (audit log).")] = "cli") -> None:
    """Accept every line of a held order (OR21 is sent and the decision recorded)."""
    _decide(order_id, True, actor)


@orders_app.command("refuse")
def refuse(order_id: str, actor: Annotated[str, typer.Option(help="Who decides (audit log).")] = "cli") -> None:
    """Refuse every line of a held order (OR21 is sent and the decision recorded)."""
    _decide(order_id, False, actor)


@orders_app.command("retry")
def retry(order_id: str, actor: Annotated[str, typer.Option(help="Who asks (audit log).")] = "cli") -> None:
    """Try the Adobe Commerce creation of a paid order again, after fixing what blocked it."""
    with runtime_for_command(engine=True) as runtime:
        try:
            workflow_id = order_service.request_retry(runtime, order_id, actor=actor)
        except (LookupError, order_service.DecisionNotAllowed) as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        with console.status("Creating the order in Adobe Commerce..."):
            from dbos import DBOS

            runtime.bus.handle(OrderRetryRequested(order_id, workflow_id))  # the engine runs: enqueued
            result: Any = DBOS.retrieve_workflow(workflow_id).get_result()
    print_json(result)


@orders_app.command("feed")
def feed(
    once: Annotated[bool, typer.Option("--once", help="One read and dispatch, then stop.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Read the marketplace's orders into the order feed's mirror (one OR11 read, every page) and
    publish what changed. Without --once, reads again every feed interval until Ctrl-C. Another
    worker already reading is reported, not waited for."""
    import time

    from marketbridge.services import order_feed
    from marketbridge.services.order_feed import pace

    with runtime_for_command() as runtime:
        first = True
        while True:
            try:
                with console.status("Reading orders from the marketplace..."):
                    read = order_feed.read(runtime, force=first)
                    sent = order_feed.dispatch(runtime) if read.skipped != "another worker reads" else None
            except IntegrationError as error:
                err_console.print(f"The marketplace could not be read: {error}")
                if once:
                    raise typer.Exit(1) from None
                read, sent = None, None
            if read is not None:
                _print_feed(read, sent, as_json)
            if once:
                return
            first = False
            try:
                time.sleep(pace.interval_seconds(runtime.settings))
            except KeyboardInterrupt:
                return


def _print_feed(read: Any, sent: Any, as_json: bool) -> None:
    if as_json:
        print_json({"read": read.as_dict(), "dispatch": sent.as_dict() if sent is not None else None})
        return
    if read.skipped:
        wait = f" (for {read.not_due_seconds:.0f} s)" if read.not_due_seconds is not None else ""
        console.print(f"Nothing read: {read.skipped}{wait}.")
    else:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(read.by_kind.items())) or "no changes"
        console.print(f"Read {read.orders} orders in {read.pages} pages ({read.source}) since {read.since}: {kinds}. "
                      f"{read.unchanged} unchanged, {len(read.failed)} unreadable. Cursor: {read.cursor or '-'}.")
    if read.changes:
        table = Table("order", "change", "detail")
        for change in read.changes:
            table.add_row(change.order_id, change.kind.value,
                          ", ".join(f"{k}={v}" for k, v in change.detail.items() if v))
        console.print(table)
        if read.events > len(read.changes):
            console.print(f"... and {read.events - len(read.changes)} more (all stored in the feed's outbox).")
    if sent is not None and sent.published:
        console.print(f"Published {sent.published} changes on the bus.")


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")
