"""The ``marketbridge`` command. Each area adds its commands in its own module."""

from __future__ import annotations

from marketbridge.cli.main import app, main

__all__ = ["app", "main"]
