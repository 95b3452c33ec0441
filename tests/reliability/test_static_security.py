"""Static security lint of src/ with bandit, using the project's configuration in pyproject.toml.

Fails on any medium- or high-severity finding, and on any file bandit could not parse (a file it
cannot read is a file it did not check). Low-severity findings are listed by `make security`; the
configuration's narrow exceptions are explained in pyproject.toml ([tool.bandit]).
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 # runs the venv's own bandit with fixed arguments
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANDIT = Path(sys.executable).with_name("bandit")


@pytest.mark.slow
def test_bandit_finds_no_medium_or_high_issue_in_src():
    if not BANDIT.exists():
        pytest.fail(f"bandit is not installed next to {sys.executable}; install the dev extras")
    run = subprocess.run(  # nosec B603
        [str(BANDIT), "-q", "-r", "src", "-c", "pyproject.toml", "-f", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    report = json.loads(run.stdout)
    assert report["errors"] == [], report["errors"]
    assert report["metrics"]["_totals"]["loc"] > 10_000  # it really scanned the code base
    serious = [
        f"{issue['filename']}:{issue['line_number']} {issue['test_id']} {issue['issue_text']}"
        for issue in report["results"]
        if issue["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    assert serious == [], "\n".join(serious)
