"""OAuth 1.0a request signing with HMAC-SHA256 (RFC 5849 §3.4), as Adobe Commerce integrations need.

Only the ``Authorization`` header form is produced. The signature base string is
``METHOD & enc(scheme://host[:port]/path) & enc(sorted, encoded params)``, where params are every
``oauth_*`` value except the signature plus the decoded query-string parameters. JSON bodies are
not part of the signature (only form-encoded bodies would be, and Magento's REST API takes JSON).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit


def enc(value: str) -> str:
    """RFC 3986 percent-encoding (unreserved characters kept), as RFC 5849 §3.6 requires."""
    return quote(value, safe="~-._")


def normalized_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((enc(k), enc(v)) for k, v in params)
    param_string = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join([method.upper(), enc(normalized_url(url)), enc(param_string)])


def signature(
    method: str, url: str, params: list[tuple[str, str]], consumer_secret: str, token_secret: str
) -> str:
    key = f"{enc(consumer_secret)}&{enc(token_secret)}".encode()
    digest = hmac.new(key, base_string(method, url, params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class OAuth1Credentials:
    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


def authorization_header(
    credentials: OAuth1Credentials,
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """The ``Authorization: OAuth ...`` value for one request (query string taken from ``url``)."""
    oauth = {
        "oauth_consumer_key": credentials.consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_token": credentials.access_token,
        "oauth_version": "1.0",
    }
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    oauth["oauth_signature"] = signature(
        method, url, list(oauth.items()) + query, credentials.consumer_secret, credentials.access_token_secret
    )
    return "OAuth " + ", ".join(f'{k}="{enc(v)}"' for k, v in oauth.items())


__all__ = ["OAuth1Credentials", "authorization_header", "base_string", "enc", "normalized_url", "signature"]
