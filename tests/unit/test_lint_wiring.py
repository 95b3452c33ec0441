"""The checks of issue 18 stay wired: `make lint` runs ruff and mypy, .ci/run runs `make lint`,
mypy is strict where the configuration says, and the pre-commit hooks run the same commands.

Plain text checks of the Makefile, .ci/run, pyproject.toml and .pre-commit-config.yaml: they do not
run the linters (CI does, through `make lint`); they fail when a check quietly stops being run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# mypy's --strict, flag by flag, as per-module options (mypy accepts `strict` only globally).
STRICT_FLAGS = {
    "disallow_any_generics": True,
    "disallow_subclassing_any": True,
    "disallow_untyped_calls": True,
    "disallow_untyped_defs": True,
    "disallow_incomplete_defs": True,
    "check_untyped_defs": True,
    "disallow_untyped_decorators": True,
    "warn_unused_ignores": True,
    "warn_return_any": True,
    "implicit_reexport": False,
    "strict_equality": True,
    "extra_checks": True,
}


def _make_recipe(target: str) -> list[str]:
    """The commands of a Makefile target: the tab-indented lines after `target:`, without `@`."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}\s*:", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().removeprefix("@").strip())
    return recipe


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_make_lint_runs_ruff_then_mypy():
    recipe = _make_recipe("lint")
    assert recipe == ["$(BIN)/ruff check src tests bench", "$(BIN)/mypy"], recipe


def test_ci_runs_make_lint():
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    assert "make lint" in commands


def test_mypy_is_in_the_dev_extra_and_the_lock():
    dev = _pyproject()["project"]["optional-dependencies"]["dev"]
    assert any(re.match(r"mypy\b", requirement) for requirement in dev), dev
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert re.search(r"^mypy==", lock, re.MULTILINE), "mypy is not pinned in requirements.lock"


def test_mypy_checks_the_package_strictly_in_domain_and_adapters():
    config = _pyproject()["tool"]["mypy"]
    assert config["files"] == ["src/marketbridge"]
    assert "pydantic.mypy" in config["plugins"]
    # Silencing is per module and named, never global.
    assert not config.get("ignore_missing_imports")
    assert not config.get("ignore_errors")
    overrides = config["overrides"]
    strict = [o for o in overrides if {"marketbridge.domain.*", "marketbridge.adapters.*"} <= set(o["module"])]
    assert strict, "no strict override for domain/ and adapters/"
    for flag, value in STRICT_FLAGS.items():
        assert strict[0].get(flag) == value, f"{flag} is not {value} for domain/ and adapters/"
    assert config.get("warn_redundant_casts") is True  # the global-only member of --strict


def test_no_marketbridge_module_ignores_its_errors():
    # Issue 18 ended the temporary `ignore_errors` section (the modules being split into packages
    # got their types fixed): every module of marketbridge is checked now, and none may go quiet
    # again, neither by name nor by a wildcard over a package (nor by `marketbridge.*` itself).
    for override in _pyproject()["tool"]["mypy"]["overrides"]:
        if not override.get("ignore_errors"):
            continue
        modules = override["module"]
        modules = [modules] if isinstance(modules, str) else modules
        silenced = [m for m in modules if m == "marketbridge" or m.startswith(("marketbridge.", "marketbridge*"))]
        assert not silenced, f"ignore_errors for {silenced}: fix the type errors instead"


def test_pre_commit_runs_what_make_lint_runs():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    for repo in config["repos"]:
        assert repo["repo"] == "local", "hooks run the locked .venv tools, nothing pre-commit downloads"
    assert all(hook["language"] == "system" for hook in hooks)
    assert all(hook.get("pass_filenames") is False for hook in hooks)
    entries = [hook["entry"] for hook in hooks]
    make = [command.replace("$(BIN)/", ".venv/bin/") for command in _make_recipe("lint")]
    assert entries == make, (entries, make)
