"""The package's own source, parsed once, for the guard tests (architecture and names)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "marketbridge"


@cache
def modules() -> tuple[tuple[str, ast.Module], ...]:
    """Every module under ``src/marketbridge`` as ``(path relative to it, parsed tree)``."""
    return tuple((path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path)))
                 for path in sorted(SRC.rglob("*.py")))


def imported_names(tree: ast.AST) -> list[str]:
    """What a module imports: ``a.b`` for ``import a.b``; ``a.b`` and ``a.b.c`` for ``from a.b import c``."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names
