"""Every table, imported here so that ``Base.metadata`` is complete for Alembic and tests.

Each area owns one module; add the import of a new module below.
"""

from marketbridge.adapters.db.models import (
    budgets,  # noqa: F401
    catalogue,  # noqa: F401
    console,  # noqa: F401
    core,  # noqa: F401
    order_feed,  # noqa: F401
    orders,  # noqa: F401
    refunds,  # noqa: F401
    shipments,  # noqa: F401
    stock,  # noqa: F401
)
