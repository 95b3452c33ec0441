"""``marketbridge carriers list|map|unmap|suggest|refresh`` and ``marketbridge shipments list|show|sync``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from marketbridge.adapters.errors import IntegrationError
from marketbridge.cli.common import console, err_console, print_json, runtime_for_command
from marketbridge.domain.shipments import ShipmentState
from marketbridge.services import shipments as shipment_service

carriers_app = typer.Typer(help="Map Adobe Commerce carriers to the marketplace's carrier codes (SH21).",
                           no_args_is_help=True)
shipments_app = typer.Typer(help="Shipments on their way from Adobe Commerce to the marketplace.", no_args_is_help=True)


@carriers_app.command("list")
def list_carriers(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    marketplace: Annotated[bool, typer.Option("--marketplace", help="Show the marketplace carrier list instead.")] = False,
) -> None:
    """List the carrier mappings (or, with --marketplace, the SH21 carrier list)."""
    with runtime_for_command() as runtime:
        if marketplace:
            try:
                rows = [c.__dict__ for c in shipment_service.ensure_carriers(runtime)]
            except IntegrationError as error:
                err_console.print(f"The marketplace carrier list could not be read: {error}")
                raise typer.Exit(1) from None
        else:
            with runtime.shipments_store.unit_of_work() as repo:
                rows = [m.model_dump() for m in shipment_service.list_mappings(repo)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No carrier mappings yet: carriers are matched by code and label only.")
        return
    if marketplace:
        table = Table("code", "label", "standard code", "tracking URL")
        for r in rows:
            table.add_row(r["code"], r["label"], r["standard_code"] or "-", r["tracking_url"] or "-")
    else:
        table = Table("id", "kind", "Magento code", "title", "→ marketplace", "by", "since")
        for r in rows:
            table.add_row(str(r["id"]), r["kind"], r["magento_carrier_code"] or "*", r["title"] or "*",
                          r["marketplace_code"], r["created_by"], r["created_at"][:19])
    console.print(table)


@carriers_app.command("map")
def map_carrier(
    marketplace_code: Annotated[str, typer.Argument(help="A carrier code from the marketplace list (SH21).")],
    code: Annotated[str | None, typer.Option("--code", help="Magento carrier_code (e.g. custom, dhl).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Magento track title (e.g. 'Speedy Couriers').")] = None,
    actor: Annotated[str, typer.Option(help="Who is mapping (written to the audit log).")] = "cli",
) -> None:
    """Map a Magento carrier to a marketplace carrier; shipments waiting for it are then sent."""
    if not (code or title):
        err_console.print("Give --code, --title, or both.")
        raise typer.Exit(2)
    with runtime_for_command() as runtime:
        try:
            added = shipment_service.add_mapping(runtime, marketplace_code=marketplace_code, magento_carrier_code=code,
                                        title=title, actor=actor)
        except shipment_service.InvalidMapping as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
        except IntegrationError as error:
            err_console.print(f"The marketplace carrier list could not be read: {error}")
            raise typer.Exit(1) from None
    mapping = added.mapping
    console.print(f"Mapped {mapping.magento_carrier_code or '*'} / {mapping.title or '*'} → "
                  f"{mapping.marketplace_code}. {len(added.released_shipments)} waiting shipment(s) released and queued.")


@carriers_app.command("unmap")
def unmap_carrier(mapping_id: int, actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Delete a carrier mapping by id."""
    with runtime_for_command() as runtime:
        if not shipment_service.delete_mapping(runtime, mapping_id, actor=actor):
            err_console.print(f"No carrier mapping {mapping_id}.")
            raise typer.Exit(1)
    console.print(f"Mapping {mapping_id} deleted.")


@carriers_app.command("suggest")
def suggest_carrier(
    title: Annotated[str, typer.Argument(help="A Magento track title.")],
    code: Annotated[str | None, typer.Option("--code", help="Its Magento carrier_code.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What a track title matches today, and the closest marketplace carriers."""
    with runtime_for_command() as runtime:
        try:
            result = shipment_service.suggest(runtime, title, code)
        except IntegrationError as error:
            err_console.print(f"The marketplace carrier list could not be read: {error}")
            raise typer.Exit(1) from None
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    if result.match:
        m = result.match
        console.print(f"'{title}' matches {m.label} ({m.code}) by {m.method.replace('_', ' ')}.")
    else:
        console.print(f"'{title}' matches no marketplace carrier.")
    table = Table("code", "label", "score")
    for s in result.suggestions:
        table.add_row(s.code, s.label, f"{s.score:.0f}")
    console.print(table)


@carriers_app.command("refresh")
def refresh() -> None:
    """Reload the marketplace carrier list (SH21) now (the schedule does it daily)."""
    with runtime_for_command() as runtime:
        try:
            count = shipment_service.refresh_carriers(runtime)
        except IntegrationError as error:
            err_console.print(f"The marketplace carrier list could not be read: {error}")
            raise typer.Exit(1) from None
    console.print(f"{count} marketplace carriers loaded.")


@shipments_app.command("list")
def list_shipments(
    state: Annotated[ShipmentState | None, typer.Option(help="Only shipments in this state.")] = None,
    order: Annotated[str | None, typer.Option(help="Only this marketplace order.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Outbound shipments, newest first."""
    with runtime_for_command() as runtime, runtime.shipments_store.unit_of_work() as repo:
        rows = shipment_service.list_shipments(repo, state=state.value if state else None, order_id=order, limit=limit)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print("No shipments of marketplace orders seen yet.")
        return
    table = Table("shipment", "order", "state", "carrier", "tracking", "detected", "confirmed", "last error")
    for r in rows:
        table.add_row(r.magento_increment_id or str(r.magento_shipment_id), r.marketplace_order_id, r.state,
                      r.carrier_code or "-", r.tracking_number or "-", (r.detected_at or "")[:19],
                      (r.confirmed_at or "-")[:19], (r.last_error or "")[:60])
    console.print(table)


@shipments_app.command("show")
def show_shipment(shipment_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One shipment (by Magento shipment entity id) with its tracks and marketplace results."""
    with runtime_for_command() as runtime, runtime.shipments_store.unit_of_work() as repo:
        shipment = shipment_service.get_shipment(repo, shipment_id)
        if shipment is None:
            err_console.print(f"No shipment {shipment_id}.")
            raise typer.Exit(1)
        data = shipment.model_dump(mode="json")
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)


@shipments_app.command("retry")
def retry(
    shipment_id: int,
    send_anyway: Annotated[bool, typer.Option("--send-anyway", help="Accept a reused tracking number.")] = False,
    actor: Annotated[str, typer.Option(help="Who is acting (written to the audit log).")] = "cli",
) -> None:
    """Try a held or refused shipment again (after fixing the cause in Adobe Commerce)."""
    with runtime_for_command() as runtime:
        try:
            shipment_service.retry_shipment(runtime, shipment_id, actor=actor, send_anyway=send_anyway)
        except (LookupError, ValueError) as error:
            err_console.print(str(error))
            raise typer.Exit(1) from None
    console.print(f"Shipment {shipment_id} queued to be sent again.")


@shipments_app.command("sync")
def sync(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read new shipments now and send every one that is due (as the schedule does)."""
    from dbos import DBOS

    from marketbridge.workflows import shipments as shipment_workflows

    with runtime_for_command(engine=True) as runtime:
        try:
            with console.status("Reading shipments from Adobe Commerce..."):
                shipment_service.poll_new_shipments(runtime)
                shipment_service.recheck_tracks(runtime)
                shipment_service.release_waiting(runtime)
        except IntegrationError as error:
            err_console.print(f"Adobe Commerce could not be read: {error}")
            raise typer.Exit(1) from None
        ids = shipment_workflows.start_sends(runtime, shipment_service.due_for_send(runtime))
        results = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Sending shipments", total=len(ids))
            for wid in ids:
                results.append({"workflow_id": wid, **DBOS.retrieve_workflow(wid).get_result()})
                progress.advance(task)
    if as_json:
        print_json(results)
        return
    console.print(f"{len(results)} shipment(s) processed.")
    for r in results:
        console.print(f"  {r['workflow_id']}: {r.get('state')} {r.get('error') or r.get('detail') or ''}")


def register(app: typer.Typer) -> None:
    app.add_typer(carriers_app, name="carriers")
    app.add_typer(shipments_app, name="shipments")
