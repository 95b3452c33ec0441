"""Names (issue 18 item 7): each of our modules is imported under one alias everywhere in
``src/marketbridge``, and one alias never means two modules (``mm`` once meant the Magento
models in one file and the Mirakl models in the next, and was even passed as a parameter)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import marketbridge

PACKAGE = Path(marketbridge.__file__).resolve().parent
BANNED = {"mm", "mk", "mg", "m", "exc", "svc"}


def _module_of(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    parts = ["marketbridge", *path.relative_to(PACKAGE).with_suffix("").parts[:-1]]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _our_aliases() -> list[tuple[str, str, str]]:
    """(module, alias, file) for every aliased import of one of our modules."""
    found: list[tuple[str, str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(a.name, a.asname, where) for a in node.names
                          if a.asname and a.name.startswith("marketbridge.")]
            elif isinstance(node, ast.ImportFrom):
                module = _module_of(path, node)
                if module == "marketbridge" or module.startswith("marketbridge."):
                    found += [(f"{module}.{a.name}", a.asname, where) for a in node.names
                              if a.asname and a.asname != a.name]
    return found


def test_the_scan_sees_our_aliased_imports() -> None:
    modules = {module for module, _, _ in _our_aliases()}
    assert "marketbridge.adapters.magento.models" in modules
    assert "marketbridge.adapters.mirakl.models" in modules


def test_each_module_has_one_alias() -> None:
    aliases: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, alias, where in _our_aliases():
        aliases[module][alias].append(where)
    several = {module: dict(names) for module, names in aliases.items() if len(names) > 1}
    assert not several, f"modules imported under more than one alias: {several}"


def test_each_alias_names_one_module() -> None:
    modules: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, alias, where in _our_aliases():
        modules[alias][module].append(where)
    several = {alias: dict(names) for alias, names in modules.items() if len(names) > 1}
    assert not several, f"aliases that mean more than one module: {several}"


def test_no_cryptic_aliases() -> None:
    cryptic = [(module, alias, where) for module, alias, where in _our_aliases() if alias in BANNED]
    assert not cryptic, f"use the module's one descriptive alias instead: {cryptic}"
    assert ("marketbridge.adapters.magento.models", "magento_models") in {(m, a) for m, a, _ in _our_aliases()}
