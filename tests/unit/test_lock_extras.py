"""The lock names every extra that something in it asks for.

pip's ``--require-hashes`` mode treats ``CacheControl[filecache]>=0.13.0`` (asked for by pip-audit)
as a requirement of its own. The pip bundled with Python 3.11 does not hold it to the plain
``cachecontrol==0.14.4`` pin, so once PyPI published cachecontrol 0.15.0 a fresh ``make install``
failed with "all requirements must have their versions pinned with ==". A lock line that carries
the extra (``cachecontrol[filecache]==0.14.4``, which ``uv pip compile --no-strip-extras`` writes)
pins it. This test reads the installed packages' own requirements, so it fails as soon as a locked
package asks for an extra that the lock strips, before a new upstream release makes CI fail.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?==", re.MULTILINE)


def _locked_extras() -> dict[str, set[str]]:
    """Each pinned name in the lock, with the extras its line carries."""
    locked: dict[str, set[str]] = {}
    for name, extras in _PIN.findall(LOCK.read_text(encoding="utf-8")):
        locked[canonicalize_name(name)] = {e.strip() for e in extras.split(",") if e.strip()}
    return locked


def _extras_asked_for(locked: dict[str, set[str]]) -> dict[str, set[str]]:
    """Extras that the installed, locked packages ask for, on this platform and Python."""
    asked: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name not in locked:
            continue
        for line in dist.requires or []:
            req = Requirement(line)
            if not req.extras:
                continue
            # A requirement behind one of the package's own extras applies only when that extra
            # is wanted; the lock says which extras are.
            wanted = locked[name] | {""}
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in wanted
            ):
                continue
            asked.setdefault(canonicalize_name(req.name), set()).update(req.extras)
    return asked


def test_the_lock_carries_every_extra_a_locked_package_asks_for() -> None:
    locked = _locked_extras()
    assert "pip-audit" in locked, "requirements.lock was not read"
    asked = _extras_asked_for(locked)
    assert "cachecontrol" in asked, "pip-audit's request for cachecontrol[filecache] was not found"
    missing = {
        name: sorted(extras - locked[name])
        for name, extras in asked.items()
        if name in locked and not extras <= locked[name]
    }
    assert missing == {}, f"requirements.lock strips extras that packages ask for: {missing}"


def test_make_lock_keeps_the_extras() -> None:
    makefile = (LOCK.parent / "Makefile").read_text(encoding="utf-8")
    assert "--no-strip-extras" in makefile
