"""Server-side verification of OAuth 1.0a HMAC-SHA256 signed requests (what Magento's
``OauthUserContext`` does for integration tokens).

Written independently of the client's signer in ``marketbridge.adapters.magento.oauth`` so that a
test of one against the other checks the wire format, not a shared helper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class OAuthConfig:
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    access_token: str = "sandbox-access-token"
    access_token_secret: str = "sandbox-access-token-secret"
    max_skew_seconds: int = 600


def _pct(text: str) -> str:
    return quote(text, safe="~-._")


def parse_header(value: str) -> dict[str, str] | None:
    if not value.lower().startswith("oauth "):
        return None
    return {k: unquote(v) for k, v in _PARAM.findall(value[6:])}


class OAuthVerifier:
    def __init__(self, config: OAuthConfig) -> None:
        self.config = config
        self._nonces: dict[str, float] = {}

    def verify(
        self, header: str, method: str, scheme: str, host: str, path: str, query: list[tuple[str, str]]
    ) -> bool:
        """``host`` as in the Host header (``127.0.0.1:8101``); ``path`` percent-encoded as sent."""
        params = parse_header(header)
        if params is None:
            return False
        cfg = self.config
        if (
            params.get("oauth_consumer_key") != cfg.consumer_key
            or params.get("oauth_token") != cfg.access_token
        ):
            return False
        if params.get("oauth_signature_method") != "HMAC-SHA256":
            return False
        try:
            timestamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            return False
        if abs(time.time() - timestamp) > cfg.max_skew_seconds:
            return False
        nonce = params.get("oauth_nonce", "")
        if not nonce or nonce in self._nonces:
            return False
        given = params.pop("oauth_signature", "")
        params.pop("realm", None)
        host = host.lower()
        if (scheme == "http" and host.endswith(":80")) or (scheme == "https" and host.endswith(":443")):
            host = host.rsplit(":", 1)[0]
        url = f"{scheme}://{host}{path}"
        pairs = sorted((_pct(k), _pct(v)) for k, v in list(params.items()) + query)
        base = "&".join([method.upper(), _pct(url), _pct("&".join(f"{k}={v}" for k, v in pairs))])
        key = f"{_pct(cfg.consumer_secret)}&{_pct(cfg.access_token_secret)}".encode()
        expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, given):
            return False
        now = time.time()
        self._nonces[nonce] = now
        if len(self._nonces) > 50000:
            self._nonces = {n: t for n, t in self._nonces.items() if now - t < cfg.max_skew_seconds}
        return True
