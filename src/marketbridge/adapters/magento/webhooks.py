"""Receiving Adobe Commerce webhook notifications: signature check and envelope parsing.

Adobe Commerce signs with its private key; the merchant copies the PEM public key from
Admin › Stores › Configuration › Adobe Services › Webhooks. The header
``x-adobe-commerce-webhook-signature`` holds base64(RSA PKCS#1 v1.5 SHA-256 signature) computed
over **base64(raw request body)** — so verify against the raw bytes as received, before any JSON
parsing or re-serialisation.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"


class WebhookPayloadError(ValueError):
    """The body is not an Adobe Commerce webhook envelope."""


def verify_signature(raw_body: bytes, signature_b64: str, public_key_pem: bytes) -> bool:
    """True when ``signature_b64`` is Commerce's signature of ``raw_body``; never raises on bad input."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (ValueError, TypeError, binascii.Error):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, base64.b64encode(raw_body), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def parse_envelope(raw_body: bytes) -> tuple[str, dict[str, Any]]:
    """``{"eventName": ..., "data": {...}}`` → ``(event_name, data)``.

    Also accepts the I/O Events CloudEvents shape (``{"event": {"type": "com.adobe.commerce.<name>",
    "data": {"value": {...}}}}``) so one receiver can serve both delivery channels.
    """
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookPayloadError(f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("body is not a JSON object")
    if "eventName" in payload:
        name, data = payload["eventName"], payload.get("data")
    elif isinstance(payload.get("event"), dict):
        event = payload["event"]
        name = str(event.get("type", "")).removeprefix("com.adobe.commerce.")
        inner = event.get("data")
        data = inner.get("value") if isinstance(inner, dict) and "value" in inner else inner
    else:
        raise WebhookPayloadError("no eventName in body")
    if not isinstance(name, str) or not name:
        raise WebhookPayloadError("eventName is empty")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebhookPayloadError("data is not an object")
    return name, data


__all__ = ["SIGNATURE_HEADER", "WebhookPayloadError", "parse_envelope", "verify_signature"]
