"""``marketbridge refunds list|show|reasons|process|retry|mirror|poll|follow`` and
``marketbridge finance report --month 2026-11 [--csv FILE]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketbridge.adapters.errors import IntegrationError
from marketbridge.cli.common import console, err_console, print_json, runtime_for_command

refunds_app = typer.Typer(help="Credit memos sent as marketplace refunds, and refunds made on the marketplace.",
                          no_args_is_help=True)
finance_app = typer.Typer(help="Finance reconciliation between the marketplace and Adobe Commerce.",
                          no_args_is_help=True)

STATUSES = ("new", "planned", "sending", "sent", "refunded", "held", "ignored")


def _fail(message: str) -> None:
    err_console.print(message, markup=False, highlight=False)
    raise typer.Exit(1)


@refunds_app.command("list")
def list_refunds(
    status: Annotated[str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    order: Annotated[str | None, typer.Option(help="Only this marketplace order.")] = None,
    marketplace: Annotated[bool, typer.Option("--marketplace", help="List refunds on marketplace lines instead.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Credit memos and what became of them (or, with --marketplace, every refund on the marketplace)."""
    from marketbridge.services import refunds as refund_service

    if status is not None and status not in STATUSES:
        _fail(f"--status must be one of: {', '.join(STATUSES)}")
    with runtime_for_command() as runtime, runtime.refunds_store.unit_of_work() as repo:
        views = (refund_service.list_marketplace_refunds(repo, order_id=order, limit=limit) if marketplace
                 else refund_service.list_refunds(repo, status=status, order_id=order, limit=limit))
    rows = [view.model_dump(mode="json") for view in views]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("Nothing to show.")
        return
    if marketplace:
        table = Table("refund", "order", "line", "SKU", "origin", "amount", "delivery", "state", "credit memo")
        for r in rows:
            table.add_row(r["refund_id"], r["order_id"], r["order_line_id"], r["sku"], r["origin"], r["amount"],
                          r["shipping_amount"], r["state"], str(r["creditmemo_id"] or "-"))
    else:
        table = Table("credit memo", "order", "status", "total", "refund ids", "problem")
        for r in rows:
            table.add_row(r["creditmemo_increment_id"] or str(r["creditmemo_id"]), r["order_id"] or "-", r["status"],
                          f'{r["total"]} {r["currency"]}', ", ".join(r["refund_ids"]) or "-", r["problem"][:80])
    console.print(table)


@refunds_app.command("show")
def show_refund(key: Annotated[str, typer.Argument(help="Credit memo entity or increment id, or a refund id.")],
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One credit memo with its computed lines and marketplace refunds (or one marketplace refund)."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime, runtime.refunds_store.unit_of_work() as repo:
        found = refund_service.show(repo, key)
    data = None if found is None else found.model_dump(mode="json")
    if data is None:
        _fail(f"No credit memo or refund {key}.")
    if as_json or "marketplace_refund" in data:  # type: ignore[operator]
        print_json(data)
        return
    assert data is not None
    console.print(f"[bold]Credit memo {data['creditmemo_increment_id'] or data['creditmemo_id']}[/bold]  "
                  f"order {data['order_id'] or '-'}  status {data['status']}  total {data['total']} {data['currency']}")
    if data["problem"]:
        console.print(f"Problem: {data['problem']}", markup=False)
    lines = Table("line", "SKU", "qty", "amount", "of which adjustment", "delivery", "reason")
    for line in data["lines"]:
        lines.add_row(line["line_id"], line["sku"], str(line["quantity"]), line["amount"],
                      f'{int(line["adjustment"]) / 100:.2f}', line["shipping"], line["reason_code"])
    console.print(lines)
    for refund in data["marketplace_refunds"]:
        console.print(f"refund {refund['refund_id']}: {refund['amount']} + {refund['shipping_amount']} delivery, "
                      f"{refund['state']}")


@refunds_app.command("reasons")
def reasons(refresh: Annotated[bool, typer.Option("--refresh", help="Read RE01 from the marketplace first.")] = False,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The credit-memo comment -> refund reason mapping, checked against the marketplace's RE01 list."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        if refresh:
            try:
                console.print(f"Read {refund_service.refresh_reasons(runtime)} reasons from the marketplace.")
            except IntegrationError as error:
                _fail(f"Could not read RE01: {error}")
        data = refund_service.reason_table(runtime).model_dump(mode="json")
    if as_json:
        print_json(data)
        return
    table = Table("comment keyword", "RE01 code", "label", "check")
    for row in data["mapping"]:
        table.add_row(row["keyword"], row["code"], row["label"], row["check"])
    table.add_row("(default)", data["default"]["code"], "", data["default"]["check"])
    console.print(table)


@refunds_app.command("process")
def process(creditmemo_id: Annotated[int, typer.Argument(min=1, help="Credit memo entity id.")]) -> None:
    """Read one credit memo now and send it (records it first if it is new). Never sends twice."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        refund_service.record_creditmemo(runtime, creditmemo_id, source="manual")
        try:
            result = refund_service.process(runtime, creditmemo_id)
        except IntegrationError as error:
            _fail(f"Could not process credit memo {creditmemo_id}: {error}")
    print_json(result.as_json())


@refunds_app.command("retry")
def retry(key: str, actor: Annotated[str, typer.Option(help="Who is acting (audit log).")] = "cli") -> None:
    """Plan a held credit memo again after its cause was fixed, and send it."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        try:
            queued = refund_service.request_retry(runtime, key, actor=actor)
            result = refund_service.process(runtime, queued.creditmemo_id)
        except LookupError:
            _fail(f"No credit memo {key}.")
        except (refund_service.RefundActionError, IntegrationError) as error:
            _fail(str(error))
    print_json(result.as_json())


@refunds_app.command("mirror")
def mirror(refund_id: str, actor: Annotated[str, typer.Option(help="Who is acting (audit log).")] = "cli") -> None:
    """Create the Adobe Commerce credit memo matching a refund made on the marketplace."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        try:
            result = refund_service.mirror_marketplace_refund(runtime, refund_id, actor=actor)
        except (refund_service.RefundActionError, IntegrationError) as error:
            _fail(str(error))
    state = "created" if result.created else "already existed"
    console.print(f"Credit memo {result.creditmemo_id} {state} for marketplace refund {refund_id}.")


@refunds_app.command("poll")
def poll() -> None:
    """Record credit memos created since the last poll (the service does this every minute)."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        new_ids = refund_service.poll_creditmemos(runtime)
    console.print(f"{len(new_ids)} new credit memo(s): {', '.join(map(str, new_ids)) or '-'}")


@refunds_app.command("follow")
def follow() -> None:
    """Re-read marketplace orders now: refund states, and refunds made on the marketplace."""
    from marketbridge.services import refunds as refund_service

    with runtime_for_command() as runtime:
        try:
            print_json(refund_service.follow(runtime).as_json())
        except IntegrationError as error:
            _fail(f"Could not read the marketplace: {error}")


@finance_app.command("report")
def finance_report(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (Europe/London).")],
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write the report to this CSV file.",
                                                  dir_okay=False, writable=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Marketplace orders, refunds and commissions next to Adobe Commerce orders and credit memos."""
    from marketbridge.domain.finance import MonthError
    from marketbridge.services import finance as finance_service

    with runtime_for_command() as runtime:
        try:
            with console.status(f"Reading both systems for {month}..."):
                report = finance_service.build_report(runtime, month)
        except MonthError as error:
            _fail(str(error))
        except IntegrationError as error:
            _fail(f"Could not read both systems: {error}")
    if csv_file is not None:
        csv_file.write_text(finance_service.report_csv(report), encoding="utf-8", newline="")
    view = finance_service.report_view(report)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    table = Table("order", "status", "marketplace total", "commission", "mkt refunded", "Magento", "Magento total",
                  "Magento refunded", "notes")

    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for row in view.rows:
        table.add_row(row.order_id, row.status, money(row.marketplace_total), money(row.marketplace_commission),
                      money(row.marketplace_refunded), row.magento_increment_id or "-", money(row.magento_total),
                      money(row.magento_refunded), row.notes)
    console.print(table)
    totals = view.totals
    counts = ", ".join(f"{k}: {v}" for k, v in totals.by_status.items())
    console.print(f"{totals.orders} orders ({counts}). Marketplace {totals.marketplace_total:.2f}, commission "
                  f"{totals.marketplace_commission:.2f}, refunded {totals.marketplace_refunded:.2f}; Adobe Commerce "
                  f"{totals.magento_total:.2f}, refunded {totals.magento_refunded:.2f}.")
    if csv_file is not None:
        console.print(f"CSV written to {csv_file}.")


def register(app: typer.Typer) -> None:
    """Add ``refunds`` and ``finance`` to the top-level app."""
    app.add_typer(refunds_app, name="refunds")
    app.add_typer(finance_app, name="finance")
