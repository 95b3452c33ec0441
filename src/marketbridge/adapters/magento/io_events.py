"""Adobe I/O Events deliveries to a webhook: the digital signatures and the body's events.

What Adobe sends (developer.adobe.com/events/docs/guides: "Challenge Request", "Signature
verification"; the SDK ``adobe/aio-lib-events`` ``src/signatureUtils.js``):

* on registration and re-activation, ``GET <url>?challenge=<uuid>``; the answer is the value,
  as ``text/plain`` or as ``{"challenge": "<uuid>"}`` in JSON (the router answers JSON);
* each delivery is a ``POST`` of the raw CloudEvent JSON (one event; a JSON array of events in
  batch mode), with ``x-adobe-digital-signature-1`` and ``-2``: base64 RSA PKCS#1 v1.5 SHA-256
  signatures of the **raw body bytes** (not base64 of it, unlike Commerce webhooks), one per
  key of the pair Adobe rotates, and ``x-adobe-public-key1-path`` / ``-2-path``: where the keys
  are (``https://static.adobeioevents.com`` + the path). A delivery is genuine when either
  signature verifies;
* the body's ``recipient_client_id`` is the Developer Console project's client id (API key):
  the SDK refuses a delivery meant for another project.

The public keys are *configured* here (``MARKETBRIDGE_ADOBE_IO_PUBLIC_KEY_FILE``: a PEM file with
one or more keys, or a directory of ``.pem`` files; or ``..._PUBLIC_KEY`` inline): this service
never fetches a key named by a request. The operator downloads the two keys the headers name.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADERS = ("x-adobe-digital-signature-1", "x-adobe-digital-signature-2")
KEY_PATH_HEADERS = ("x-adobe-public-key1-path", "x-adobe-public-key2-path")
RETRY_HEADER = "x-adobe-retry-count"
_PEM_END = b"-----END PUBLIC KEY-----"


def load_public_keys(pem_text: bytes) -> list[rsa.RSAPublicKey]:
    """Every RSA public key in a PEM text holding one or more ``PUBLIC KEY`` blocks; others skipped."""
    keys: list[rsa.RSAPublicKey] = []
    for block in pem_text.split(_PEM_END):
        if b"-----BEGIN PUBLIC KEY-----" not in block:
            continue
        try:
            key = serialization.load_pem_public_key(block.strip() + b"\n" + _PEM_END + b"\n")
        except ValueError:
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys.append(key)
    return keys


def keys_from_path(path: Path) -> list[rsa.RSAPublicKey]:
    """The keys in a PEM file, or in every ``*.pem`` file of a directory (sorted by name)."""
    files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
    keys: list[rsa.RSAPublicKey] = []
    for file in files:
        keys.extend(load_public_keys(file.read_bytes()))
    return keys


def _signature_verifies(raw_body: bytes, signature_b64: str, key: rsa.RSAPublicKey) -> bool:
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (ValueError, binascii.Error):
        return False
    try:
        key.verify(signature, raw_body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify(raw_body: bytes, headers: Mapping[str, str], keys: Iterable[rsa.RSAPublicKey]) -> bool:
    """True when either digital signature of ``raw_body`` verifies against one of ``keys``."""
    signatures = [headers.get(name, "") for name in SIGNATURE_HEADERS]
    signatures = [s for s in signatures if s]
    if not signatures:
        return False
    return any(_signature_verifies(raw_body, s, key) for key in keys for s in signatures)


def sign(raw_body: bytes, key: rsa.RSAPrivateKey) -> str:
    """The signature Adobe puts in ``x-adobe-digital-signature-N`` (the simulator and tests sign so)."""
    return base64.b64encode(key.sign(raw_body, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


__all__ = ["KEY_PATH_HEADERS", "RETRY_HEADER", "SIGNATURE_HEADERS", "keys_from_path", "load_public_keys", "sign",
           "verify"]
