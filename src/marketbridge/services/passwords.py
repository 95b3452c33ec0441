"""Which passwords an account may have: at least 12 characters, not a common password.

The common list (``marketbridge/data/common-passwords.txt.gz``, about 20,000 entries; origin and
licence in ``COMMON-PASSWORDS.md`` beside it) is read once per process. A password is refused when
it is on the list, or is a listed word with only digits and symbols added around it
(``Password2024!``), or repeats a few characters, or contains the account's name.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

MIN_LENGTH = 12
_DECORATION = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$", re.DOTALL)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    data = resources.files("marketbridge.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def problem(password: str, name: str = "") -> str | None:
    """Why ``password`` may not be used (a sentence for the person choosing it), or None."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    folded = password.casefold()
    core = _DECORATION.match(folded)
    stripped = core.group(1) if core else folded
    common = common_passwords()
    if folded in common or folded.replace(" ", "") in common or (stripped and stripped in common):
        return "That password is on a list of common passwords; choose another."
    if len(set(folded)) < 5:
        return "The password repeats too few characters; choose another."
    if name and len(name) >= 3 and name.casefold() in folded:
        return "The password must not contain the account's name."
    return None
