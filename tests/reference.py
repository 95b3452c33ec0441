"""Where the official schemas and example payloads are: ``../shared/reference`` beside the
repository (as in CI and the developers' machines). A checkout without them skips the tests
that need them, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

_CANDIDATES = [Path(__file__).resolve().parents[2] / "shared" / "reference", Path("/work/shared/reference")]
REFERENCE_ROOT = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
HAVE_REFERENCE = REFERENCE_ROOT.is_dir()
requires_reference = pytest.mark.skipif(
    not HAVE_REFERENCE, reason=f"official schemas not found at {_CANDIDATES[0]} (shared/reference beside the repo)"
)
