"""Top-level command tree: ``marketbridge --help`` lists every command."""

from __future__ import annotations

import typer

from marketbridge.cli import (
    catalogue,
    console_cmds,
    core,
    issues,
    mirakl,
    orders,
    refunds,
    sandbox,
    shipments,
    stock,
)

app = typer.Typer(
    name="marketbridge",
    help="Keeps an Adobe Commerce store and the John Lewis Marketplace (Mirakl) in step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

core.register(app)
sandbox.register(app)
issues.register(app)
stock.register(app)
orders.register(app)
shipments.register(app)
refunds.register(app)
catalogue.register(app)
console_cmds.register(app)
mirakl.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
