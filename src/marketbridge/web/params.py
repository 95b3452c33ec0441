"""Bounded integer parameters shared by the routes.

An id column is a 32-bit integer on PostgreSQL (``int4``) and offsets are 64-bit: a path or query
value beyond them used to reach the driver and fail with a 500. Bounded here, an out-of-range id
in a path is answered 404 (there is no such row; see ``app._invalid_request``) and an
out-of-range query value 422, before any SQL runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

INT4_MAX = 2**31 - 1

#: An integer database id in a path.
DbId = Annotated[int, Path(ge=1, le=INT4_MAX)]

#: How many rows to skip in a list.
Offset = Annotated[int, Query(ge=0, le=INT4_MAX)]
