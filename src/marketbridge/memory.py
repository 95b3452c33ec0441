"""Keeping the service's resident memory close to what it really uses (glibc only; no-ops elsewhere).

A stock burst handles tens of thousands of SKUs across a dozen threads (webhook handlers, DBOS
workers, Magento reads). glibc gives each thread its own malloc arena and keeps freed memory in
them, so resident memory grew well past what a pass holds (566 MB at 50,000 SKUs, measured with
``bench/stock_sync.py``). Two arenas and giving free pages back after a large pass keep it near
the working set. Both calls are documented glibc interfaces (``mallopt(M_ARENA_MAX)``,
``malloc_trim``); the ``MALLOC_ARENA_MAX`` environment variable does the same as the first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

M_ARENA_MAX = -8  # glibc <malloc.h>


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc has both; musl and others do not
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Call before threads start. Respects an explicit ``MALLOC_ARENA_MAX``. True when applied."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Give free heap pages back to the system (after a large refresh or import)."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
