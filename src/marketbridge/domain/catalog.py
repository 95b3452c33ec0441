"""Imports every flow's domain module so that all exception types are declared.

The operating guide test and the dashboard use :func:`all_exception_types`.
"""

from __future__ import annotations

from marketbridge.domain import catalogue, orders, refunds, shipments, stock  # noqa: F401
from marketbridge.domain.exceptions import ExceptionType, registered_types


def all_exception_types() -> dict[str, ExceptionType]:
    return registered_types()
