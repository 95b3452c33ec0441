"""``marketbridge sandbox``: the Adobe Commerce and Mirakl simulators, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from marketbridge.cli.common import err_console


def sandbox(
    magento_port: Annotated[int, typer.Option(help="Adobe Commerce simulator port.")] = 8101,
    mirakl_port: Annotated[int, typer.Option(help="Mirakl simulator port.")] = 8102,
    products: Annotated[int, typer.Option(min=10, max=100_000, help="Catalogue size.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the generated catalogue and of injected faults.")] = 42,
    webhook_url: Annotated[
        str | None, typer.Option(help="Deliver signed Adobe Commerce webhooks to this URL.")
    ] = None,
    webhook_key: Annotated[
        str, typer.Option(help="PEM private key used to sign webhooks (created with a .pub beside it if missing).")
    ] = "var/sandbox-webhook-key.pem",
    rate_scale: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Multiplies Mirakl's documented call intervals (1.0 = real).")
    ] = 1.0,
    webhook_mode: Annotated[
        str, typer.Option(help="'webhooks' (Adobe Commerce hooks, one URL per hook under --webhook-url) or "
                               "'io_events' (Adobe I/O Events CloudEvents to --webhook-url).")
    ] = "webhooks",
    commit_after_webhook: Annotated[
        bool, typer.Option(help="Deliver *_save_after hooks before the save is visible, as Magento does.")
    ] = False,
    payment_methods: Annotated[
        str, typer.Option(help="Payment methods the simulated store has enabled (comma-separated). "
                               "A fresh Adobe Commerce store: checkmo,free.")
    ] = "checkmo,free",
    carriers: Annotated[
        str, typer.Option(help="Carriers the simulated store has enabled (comma-separated). A fresh store: flatrate; "
                               "marketbridge's free-delivery orders need freeshipping too.")
    ] = "flatrate",
) -> None:
    """Serve both simulators on loopback until Ctrl-C (Magento under /rest/<store>/V1, Mirakl under /api)."""
    from pathlib import Path

    from marketbridge.sandbox.catalogue import seed_catalogue
    from marketbridge.sandbox.magento.app import create_app as create_magento
    from marketbridge.sandbox.mirakl.app import create_app as create_mirakl
    from marketbridge.sandbox.server import serve_forever

    Path(webhook_key).parent.mkdir(parents=True, exist_ok=True)
    catalogue = seed_catalogue(products, seed)
    if webhook_mode not in ("webhooks", "io_events"):
        raise typer.BadParameter("--webhook-mode must be 'webhooks' or 'io_events'")
    magento = create_magento(
        catalogue, webhook_url=webhook_url, webhook_private_key_path=webhook_key if webhook_url else None,
        webhook_mode=webhook_mode, commit_after_webhook=commit_after_webhook,
        payment_methods=[c.strip() for c in payment_methods.split(",") if c.strip()],
        carriers=[c.strip() for c in carriers.split(",") if c.strip()],
    )
    mirakl = create_mirakl(catalogue, rate_scale=rate_scale)
    err_console.print(
        f"Adobe Commerce sandbox: http://127.0.0.1:{magento_port}/rest/all/V1  (token sandbox-magento-token)\n"
        f"Mirakl sandbox:         http://127.0.0.1:{mirakl_port}/api  (key sandbox-mirakl-key)\n"
        f"{len(catalogue)} products, seed {seed}. Control APIs under /_sandbox/. Ctrl-C stops."
    )
    try:
        serve_forever([(magento, magento_port), (mirakl, mirakl_port)])
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
    app.command("demo")(demo)


def demo(
    port: Annotated[int, typer.Option(help="Web console port.")] = 8100,
    rate_scale: Annotated[float, typer.Option(min=0.01, max=1.0, help="Shortens Mirakl's call intervals.")] = 0.1,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")] = None,
) -> None:
    """Sandboxes + service on the embedded default (SQLite), with a simulated working day."""
    from marketbridge.demo import DemoConfig, run_demo

    config = DemoConfig(web_port=port, rate_scale=rate_scale, duration_seconds=seconds)
    try:
        run_demo(config, say=lambda text: err_console.print(text, markup=False, highlight=False))
    except (RuntimeError, TimeoutError) as error:
        err_console.print(f"demo stopped: {error}", markup=False)
        raise typer.Exit(1) from None
