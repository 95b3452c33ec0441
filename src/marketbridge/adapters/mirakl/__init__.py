"""Mirakl seller API adapter: HTTP client, CSV imports/exports, response and request models.

Public surface::

    MiraklClient(base_url, api_key, *, shop_id=None, transport=None, timeout=30.0, rate_scale=1.0, limiter=None)
    MiraklClient.from_settings(settings)
    ImportResult, ImportLineError          per-SKU outcome of an asynchronous import
    InProcessCallLimiter, SqliteCallLimiter, CallLimiter   per-API call-frequency limiters
    ENDPOINTS                              every API we use, as data (code, path, frequency, retry safety)
    models                                 pydantic models (tolerant responses, strict requests)
"""

from marketbridge.adapters.mirakl import models
from marketbridge.adapters.mirakl.client import ImportLineError, ImportResult, MiraklClient
from marketbridge.adapters.mirakl.endpoints import ENDPOINTS, Endpoint, Paginator
from marketbridge.adapters.mirakl.limiter import CallLimiter, InProcessCallLimiter, SqliteCallLimiter

__all__ = [
    "ENDPOINTS",
    "CallLimiter",
    "Endpoint",
    "ImportLineError",
    "ImportResult",
    "InProcessCallLimiter",
    "MiraklClient",
    "Paginator",
    "SqliteCallLimiter",
    "models",
]
