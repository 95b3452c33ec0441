"""CLI commands of the sandbox area."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands or sub-groups to the top-level app."""
