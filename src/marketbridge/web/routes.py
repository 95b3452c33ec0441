"""List every route of the app with its full path.

FastAPI 0.165 keeps included routers as lazy ``_IncludedRouter`` entries in ``app.routes``
instead of copying their routes, so walking ``app.routes`` alone misses them. The access-control
test uses this to check that every route refuses anonymous requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def flat_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, frozenset[str]]]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            yield from flat_routes(original.routes, prefix + (getattr(context, "prefix", "") or ""))
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None)
        yield prefix + path, frozenset(methods or ())
