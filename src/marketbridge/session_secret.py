"""Is the console's session secret good enough to sign cookies with?

The session cookie carries the user id, the user's session version and the CSRF token, signed with
``MARKETBRIDGE_SESSION_SECRET`` (itsdangerous HMAC). Anyone who knows the secret can write a cookie
for any user, so the service refuses to start without one that is long and random: at least 32
random bytes, which ``python -c 'import secrets; print(secrets.token_urlsafe(48))'`` prints.

The check is a floor, not a proof of randomness: it refuses what is missing, short, known (the
old built-in default and usual placeholders) or plainly made by hand (few distinct characters,
repeated patterns). Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter

VARIABLE = "MARKETBRIDGE_SESSION_SECRET"
HOW_TO = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
MIN_BITS = 256  # 32 random bytes
MIN_LENGTH = 32

KNOWN_SECRETS = frozenset({
    "change-me-session-secret",  # the default of marketbridge up to 0.1.0
    "changeme", "change-me", "change_me", "secret", "session-secret", "session_secret", "password",
    "marketbridge", "marketbridge-demo", "sandbox-session-secret", "insecure", "development", "test",
})
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder",
                     "example", "your-secret", "yoursecret", "not-secret", "notsecret", "insecure",
                     "xxxxxxxx")  # 7+ letters: a random secret contains one by chance about never


_HEX = frozenset("0123456789abcdefABCDEF")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")


def _alphabet_bits(value: str) -> float:
    """Bits per character of the alphabet the value is drawn from (an upper bound): hex and
    base64 (what secret generators print) by their own alphabets, anything else by the character
    classes it uses."""
    chars = set(value)
    if chars <= _HEX:
        return 4.0
    if chars <= _BASE64:
        return 6.0
    size = 0
    if any(c.islower() for c in value):
        size += 26
    if any(c.isupper() for c in value):
        size += 26
    if any(c.isdigit() for c in value):
        size += 10
    if any(not c.isalnum() for c in value):
        size += 33
    return math.log2(max(size, 2))


def _shannon_bits_per_char(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def estimated_bits(value: str) -> float:
    """A generous estimate of the secret's entropy: length × bits of its alphabet."""
    return len(value) * _alphabet_bits(value)


def problem(value: str | None) -> str | None:
    """Why ``value`` may not sign session cookies, or None when it may. Never echoes the value."""
    if value is None or not value.strip():
        return f"{VARIABLE} is not set; set it to at least 32 random bytes, e.g. {HOW_TO}"
    lowered = value.strip().casefold()
    if lowered in KNOWN_SECRETS or any(word in lowered for word in PLACEHOLDER_WORDS):
        return f"{VARIABLE} is a known or placeholder value; set a random one, e.g. {HOW_TO}"
    if len(value) < MIN_LENGTH or estimated_bits(value) < MIN_BITS:
        return f"{VARIABLE} is too short (needs at least 32 random bytes); set one with {HOW_TO}"
    if len(set(value)) < 10 or _shannon_bits_per_char(value) < 3.0 or _repetitive(value):
        return f"{VARIABLE} does not look random (too few distinct characters); set one with {HOW_TO}"
    return None


def _repetitive(value: str) -> bool:
    """True when the value is a short piece repeated (``abcdabcdabcd...``)."""
    for period in range(1, len(value) // 3 + 1):
        if all(value[i] == value[i % period] for i in range(len(value))):
            return True
    return False


def require(value: object) -> str:
    """The secret in clear for the session middleware; a one-line ``SettingsError`` when unusable.

    ``value`` is the ``SecretStr | None`` from the settings.
    """
    from marketbridge.settings import SettingsError

    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else None
    reason = problem(raw)
    if reason is not None or raw is None:
        raise SettingsError(f"configuration error: {reason}")
    return raw
