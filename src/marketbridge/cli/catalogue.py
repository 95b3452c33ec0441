"""CLI of the catalogue area: ``catalogue publish|status|mapping ...``, ``skus near-misses|link|unlink``
and ``audit [--fix] [--json]`` (JSON on stdout, progress bar on stderr)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from marketbridge.cli.common import console, err_console, print_json, runtime_for_command

if TYPE_CHECKING:
    from marketbridge.services.catalogue import ListingView, UnknownSku

catalogue_app = typer.Typer(help="Publish Adobe Commerce products to the marketplace and follow their status.",
                            no_args_is_help=True)
mapping_app = typer.Typer(help="Attribute, value and category mappings (editable by ecommerce).", no_args_is_help=True)
skus_app = typer.Typer(help="SKU integrity: near misses and confirmed links.", no_args_is_help=True)


def _status_table(states: Mapping[str, ListingView | UnknownSku]) -> Table:
    table = Table("SKU", "status", "variant group", "problems / reasons")
    for sku, state in sorted(states.items()):
        group = getattr(state, "variant_group", None)  # an UnknownSku has none
        table.add_row(sku, state.status, group or "", "\n".join(state.problems))
    return table


@catalogue_app.command("publish")
def publish(
    sku: Annotated[list[str] | None, typer.Option("--sku", help="Publish this SKU now (repeatable).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until each product is live, rejected or invalid.")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait at most.")] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Publish products: P41 product import then OF01 offer import, followed to a listing status.

    Without --sku: one pass of what the schedule does (new products, imports in flight)."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime:
        if not sku:
            result = catalogue_service.run_scheduled_pass(runtime).as_dict()
            print_json(result) if as_json else console.print(result)
            return
        with err_console.status("Publishing… (P41 products, then OF01 offers)") as status:
            def show(states: dict[str, catalogue_service.ListingView | catalogue_service.UnknownSku]) -> None:
                counts: dict[str, int] = {}
                for s in states.values():
                    counts[s.status] = counts.get(s.status, 0) + 1
                status.update("Publishing… " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

            states = catalogue_service.publish(runtime, sku, wait=wait, timeout=timeout, on_progress=show)
    if as_json:
        print_json({k: v.model_dump(mode="json") for k, v in states.items()})
    else:
        console.print(_status_table(states))
    if any(s.status in ("not_found", "invalid", "rejected") for s in states.values()):
        raise typer.Exit(1)


@catalogue_app.command("status")
def status(
    sku: Annotated[str | None, typer.Argument(help="One SKU (default: every listed product).")] = None,
    only: Annotated[str | None, typer.Option("--status", help="Only products in this status.")] = None,
    refresh: Annotated[bool, typer.Option(help="Ask the marketplace (OF21) whether the offer is live now.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Listing status per product: new, excluded, invalid, pending, rejected, inactive, live."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime:
        if sku and refresh:
            catalogue_service.refresh_live(runtime, [sku])
        states = catalogue_service.statuses(runtime, [sku] if sku else None, status=only)
    if sku and not states:
        err_console.print(f"{sku} has never been published (no listing).")
        raise typer.Exit(1)
    if as_json:
        print_json({k: v.model_dump(mode="json") for k, v in states.items()})
    else:
        console.print(_status_table(states))


@catalogue_app.command("rule")
def rule(
    sku: str,
    action: Annotated[str, typer.Argument(help="publish_as_simple | none (remove the rule)")],
    note: Annotated[str, typer.Option(help="Why (kept with the rule).")] = "",
    actor: Annotated[str, typer.Option(help="Who decides (audit log).")] = "cli",
) -> None:
    """An explicit rule for a product excluded by default (bundle, required custom option)."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime, runtime.catalogue_store.unit_of_work() as repo:
        try:
            catalogue_service.set_override(repo, sku, None if action == "none" else action, actor=actor, note=note)
        except ValueError:
            err_console.print("action must be publish_as_simple or none")
            raise typer.Exit(2) from None
    console.print(f"Rule for {sku}: {action}.")


@mapping_app.command("show")
def mapping_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The effective attribute mappings (defaults + edits), category mappings and publish rules."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime, runtime.catalogue_store.unit_of_work() as repo:
        data = catalogue_service.mappings_view(repo).model_dump(mode="json")
    if as_json:
        print_json(data)
        return
    table = Table("marketplace attribute", "Magento source", "value map")
    for m in data["attributes"]:
        table.add_row(m["attribute"], m["source"], ", ".join(f"{k}→{v}" for k, v in m["value_map"].items()))
    console.print(table)
    cats = Table("Magento category", "marketplace category")
    for c in data["categories"]:
        cats.add_row(c["magento_category"], c["marketplace_category"])
    console.print(cats)


@mapping_app.command("attribute")
def mapping_attribute(
    attribute: Annotated[str, typer.Argument(help="Marketplace attribute code (PM11).")],
    source: Annotated[str, typer.Argument(help="Magento field/attribute code, '=constant', or '' to unmap.")],
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime, runtime.catalogue_store.unit_of_work() as repo:
        try:
            catalogue_service.set_attribute_mapping(repo, attribute, source, None, actor=actor)
        except ValueError as error:
            err_console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"{attribute} <- {source or '(unmapped)'}")


@mapping_app.command("value")
def mapping_value(attribute: str, magento_value: str, marketplace_value: str,
                  actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Translate one Magento value (e.g. option id 50) into a marketplace value code (e.g. RED)."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime, runtime.catalogue_store.unit_of_work() as repo:
        try:
            catalogue_service.set_value_mapping(repo, attribute, magento_value, marketplace_value, actor=actor)
        except ValueError as error:
            err_console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"{attribute}: {magento_value} -> {marketplace_value}")


@mapping_app.command("category")
def mapping_category(magento_category: str, marketplace_category: str,
                     actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Map an Adobe Commerce category (code or id) to a marketplace category (H11 code)."""
    from marketbridge.services import catalogue as catalogue_service

    with runtime_for_command() as runtime, runtime.catalogue_store.unit_of_work() as repo:
        try:
            catalogue_service.set_category_mapping(repo, magento_category, marketplace_category, actor=actor)
        except ValueError as error:
            err_console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"{magento_category} -> {marketplace_category}")


@skus_app.command("near-misses")
def near_misses(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Offer SKUs that almost match an Adobe Commerce SKU, with the suggested link (from the last audit)."""
    from marketbridge.services import skus as sku_service

    with runtime_for_command() as runtime, runtime.db.session() as session:
        rows = sku_service.open_near_misses(session)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print("No near misses open. (They are found by `marketbridge audit`.)")
        return
    table = Table("offer SKU", "suggested Adobe Commerce SKU", "why", "confirm with")
    for r in rows:
        table.add_row(repr(r.offer_sku), r.magento_sku, r.reason,
                      f"marketbridge skus link {r.offer_sku!r} {r.magento_sku!r}")
    console.print(table)


@skus_app.command("link")
def link(offer_sku: str, magento_sku: str, actor: Annotated[str, typer.Option(help="Who confirms.")] = "cli",
         note: Annotated[str, typer.Option()] = "") -> None:
    """Confirm that a marketplace offer SKU is this Adobe Commerce SKU (every flow then uses it)."""
    from marketbridge.services import skus as sku_service

    with runtime_for_command() as runtime, runtime.db.session() as session:
        try:
            sku_service.link(session, offer_sku, magento_sku, confirmed_by=actor, note=note)
        except sku_service.SkuLinkError as error:
            err_console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"Linked {offer_sku!r} -> {magento_sku!r}.")


@skus_app.command("unlink")
def unlink(offer_sku: str, actor: Annotated[str, typer.Option()] = "cli") -> None:
    from marketbridge.services import skus as sku_service

    with runtime_for_command() as runtime, runtime.db.session() as session:
        try:
            sku_service.unlink(session, offer_sku, by=actor)
        except sku_service.SkuLinkError as error:
            err_console.print(str(error))
            raise typer.Exit(2) from None
    console.print(f"Removed the link of {offer_sku!r}.")


@skus_app.command("links")
def links(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from marketbridge.services import skus as sku_service

    with runtime_for_command() as runtime, runtime.db.session() as session:
        rows = [r.model_dump(mode="json") for r in sku_service.list_links(session)]
    print_json(rows) if as_json else console.print(rows or "No links.")


def audit(
    fix: Annotated[bool, typer.Option("--fix", help="Re-publish what Adobe Commerce says.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON summary and drift rows on stdout.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Drift rows in the output (all are stored).")] = 1000,
) -> None:
    """Compare every Adobe Commerce product with every marketplace offer and report drift by kind."""
    from marketbridge.domain.catalogue import DRIFT_LABELS, DriftKind
    from marketbridge.services import audit as audit_service

    with runtime_for_command() as runtime:
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err_console, transient=as_json)
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        with progress:
            outcome = audit_service.run_audit(runtime, fix=fix, trigger="manual", progress=on_progress)
    if as_json:
        data = outcome.summary().model_dump(mode="json")
        data["drifts"] = [{"kind": d.kind.value, "magento_sku": d.magento_sku, "offer_sku": d.offer_sku,
                           "expected": d.expected, "actual": d.actual, "detail": d.detail}
                          for d in outcome.drifts[:limit]]
        print_json(data)
        return
    table = Table("drift", "count")
    for kind in DriftKind:
        table.add_row(DRIFT_LABELS[kind], str(outcome.counts.get(kind.value, 0)))
    console.print(table)
    console.print(f"Run {outcome.run_id}: {outcome.magento_count} products, {outcome.offer_count} offers "
                  f"({outcome.offer_source}), {len(outcome.drifts)} drift rows in {outcome.elapsed_seconds:.1f} s.")
    if fix:
        console.print(f"Fixes: {outcome.fixed}")


def register(app: typer.Typer) -> None:
    catalogue_app.add_typer(mapping_app, name="mapping")
    app.add_typer(catalogue_app, name="catalogue")
    app.add_typer(skus_app, name="skus")
    app.command("audit")(audit)
