"""``make security``'s dependency audit: pip-audit on requirements.lock, honest about what it checked.

pip-audit's default vulnerability service reads each release's JSON from PyPI
(``https://pypi.org/pypi/<name>/<version>/json``). When that cannot be read (offline, or behind a
mirror that serves only the simple index, as on the machine this was written on: per-release JSON
answers 404) pip-audit skips every package and still prints "No known vulnerabilities found". So
this runs pip-audit with JSON output and says what was really audited:

* a known vulnerability in a locked release: listed, exit 1;
* nothing could be audited: one line ``pip-audit SKIPPED: ...``, exit 0 (exit 1 with AUDIT_REQUIRED=1);
* some releases could not be audited: counted and named, exit 0 (exit 1 with AUDIT_REQUIRED=1).

Usage: ``python tools/audit_lock.py requirements.lock`` (the venv's pip-audit is used).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs pip-audit from this venv with fixed arguments
import sys
import tempfile
from pathlib import Path


def main(lock: str) -> int:
    required = bool(os.environ.get("AUDIT_REQUIRED"))
    pip_audit = Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        run = subprocess.run(  # nosec B603 - fixed argument list, no shell
            [str(pip_audit), "-r", lock, "--require-hashes", "--disable-pip", "--progress-spinner", "off",
             "-f", "json", "-o", str(report)], capture_output=True, text=True, check=False)
        data = json.loads(report.read_text()) if report.exists() and report.stat().st_size else None
    if data is None:
        why = (run.stderr.strip().splitlines() or ["no report"])[-1][:300]
        print(f"make security: pip-audit SKIPPED: the advisory database could not be reached ({why}); "
              f"{lock} was NOT audited")
        return 1 if required else 0
    deps = data.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            print(f"{dep['name']} {dep['version']}: {vuln.get('id')} (fixed in {fixed})")
    if not audited:
        print(f"make security: pip-audit SKIPPED: the advisory database (PyPI's per-release JSON) is not reachable "
              f"from this machine, so none of the {len(deps)} locked releases in {lock} was audited")
        return 1 if required else 0
    print(f"make security: pip-audit checked {len(audited)} of {len(deps)} locked releases: "
          f"{len(vulnerable)} with a known vulnerability")
    if skipped:
        print("  not audited: " + ", ".join(f"{d['name']} {d['version']}" for d in skipped))
    if vulnerable:
        return 1
    return 1 if (skipped and required) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"))
