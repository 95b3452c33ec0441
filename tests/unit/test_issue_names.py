"""Guard on the rename of issue 18, item 7: in code, the business problems shown to the teams are
*issues*, so that nothing confuses them with Python's exceptions. The teams' word stays where
people read it (console, guides, CLI, public API, database table), not in names under ``src/``.

These fail when an old name creeps back in: the model and classes once named ``Exception*``
(now ``IssueRecord``, ``IssueReport``, ``IssueState``, ``IssueType``, ``IssueFilter``), the service
alias once named ``exception_`` + ``service`` (now ``issue_service``), or an import of the old
modules ``marketbridge.services.exceptions`` / ``marketbridge.domain.exceptions``. The old names
are spelled in pieces here, so that a plain grep of the tree for them finds nothing.
"""

from __future__ import annotations

import ast
import re

from tests import source_tree

SRC = source_tree.SRC
OLD_CLASS_NAMES = ["Exception" + suffix for suffix in ("Record", "RecordRow", "Report", "State", "Type", "Filter")]
OLD_ALIAS = "exception" + "_service"
OLD_NAMES = re.compile(r"\b(" + "|".join([*OLD_CLASS_NAMES, OLD_ALIAS]) + r")\b")
OLD_MODULES = {"marketbridge.services.exceptions", "marketbridge.domain.exceptions"}


def _sources() -> list[tuple[str, str]]:
    return [(path.relative_to(SRC).as_posix(), path.read_text(encoding="utf-8")) for path in sorted(SRC.rglob("*.py"))]


_imported_modules = source_tree.imported_names


def test_the_old_names_of_issues_do_not_come_back() -> None:
    found = [f"{name}:{number}: {match.group(1)}" for name, text in _sources()
             for number, line in enumerate(text.splitlines(), 1) for match in OLD_NAMES.finditer(line)]
    assert found == [], "issues are called issues in code (IssueRecord, issue_service, ...)"


def test_nothing_imports_the_old_exception_modules() -> None:
    found = [f"{name}: {imported}" for name, text in _sources()
             for imported in _imported_modules(ast.parse(text, name)) if imported in OLD_MODULES]
    assert found == [], "import marketbridge.services.issues / marketbridge.domain.issues instead"


def test_the_old_exception_modules_are_gone() -> None:
    assert not (SRC / "services" / "exceptions.py").exists()
    assert not (SRC / "domain" / "exceptions.py").exists()


def test_the_guard_sees_an_old_name() -> None:
    """The checks above would pass on any tree if the patterns matched nothing: prove they match."""
    assert OLD_NAMES.search(f"from marketbridge.adapters.db.models.core import {OLD_CLASS_NAMES[0]}")
    assert OLD_NAMES.search(f"from marketbridge.services import issues as {OLD_ALIAS}")
    assert not OLD_NAMES.search("IssueRecord issue_service HTTPException")
    assert "marketbridge.services.exceptions" in _imported_modules(
        ast.parse("from marketbridge.services.exceptions import audit"))
    assert "marketbridge.domain.exceptions" in _imported_modules(ast.parse("import marketbridge.domain.exceptions"))
