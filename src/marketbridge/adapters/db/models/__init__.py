"""Every table, imported here so that ``Base.metadata`` is complete for Alembic and tests.

Each area owns one module; add the import of a new module below.
"""

from marketbridge.adapters.db.models import core  # noqa: F401
from marketbridge.adapters.db.models import stock  # noqa: F401
from marketbridge.adapters.db.models import orders  # noqa: F401
from marketbridge.adapters.db.models import shipments  # noqa: F401
from marketbridge.adapters.db.models import refunds  # noqa: F401
from marketbridge.adapters.db.models import catalogue  # noqa: F401
from marketbridge.adapters.db.models import console  # noqa: F401
