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
# Real Commerce payloads (order → items → product options → values) stay well under 20 levels;
# anything deeper is refused before a handler (or json.dumps, or a logger) recurses into it.
MAX_NESTING = 64


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


def nesting_depth(value: Any) -> int:
    """How many containers deep ``value`` goes, counted without recursion (hostile input is deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_body(raw_body: bytes) -> Any:
    """The JSON value of a delivery. Refused with :class:`WebhookPayloadError` (the receiver answers
    400, nothing is stored): a body that is not UTF-8 JSON, or nested deeper than
    :data:`MAX_NESTING` (checked without recursion, so a 10,000-level body cannot raise
    ``RecursionError``). Adobe Commerce never sends either. The message never quotes the body."""
    try:
        text = raw_body.decode("utf-8")  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError:
        raise WebhookPayloadError("body is not UTF-8 text") from None
    try:
        payload = json.loads(text)
    except RecursionError:
        raise WebhookPayloadError(f"body is nested more than {MAX_NESTING} levels deep") from None
    except ValueError as error:
        raise WebhookPayloadError(f"body is not JSON: {str(error)[:200]}") from None
    if nesting_depth(payload) > MAX_NESTING:
        raise WebhookPayloadError(f"body is nested more than {MAX_NESTING} levels deep")
    return payload


def parse_envelope(raw_body: bytes, hook: str | None = None) -> tuple[str, dict[str, Any]]:
    """A delivery → ``(event name, data)``, whatever shape Adobe Commerce sent (see
    :func:`marketbridge.adapters.magento.hooks.envelope`): observer ``{"eventName", "data"}``,
    plugin (the method's arguments), field-filtered, or an I/O Events CloudEvent. ``hook`` is the
    hook named by the URL the delivery came to (``/webhooks/adobe-commerce/<hook>``), if any.

    A JSON body of a shape we do not know is *not* refused: it gets the name
    :data:`~marketbridge.adapters.magento.hooks.UNRECOGNISED` (stored, answered success, raised as
    an exception for a person). Refused with :class:`WebhookPayloadError`: see :func:`load_body`."""
    from marketbridge.adapters.magento.hooks import envelope

    return envelope(load_body(raw_body), hook)


__all__ = ["MAX_NESTING", "SIGNATURE_HEADER", "WebhookPayloadError", "load_body", "nesting_depth", "parse_envelope",
           "verify_signature"]
