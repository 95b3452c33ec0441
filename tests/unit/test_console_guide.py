"""The operating guide covers every issue type the code can raise, in its owner's guide.

The list of types is read from the code at test time (``domain.catalog.all_issue_types``), so a
flow that declares a new type fails this test until ``marketbridge guide update`` has been run.
"""

from __future__ import annotations

import re

from marketbridge.domain.catalog import all_issue_types
from marketbridge.web import console_guide
from marketbridge.web.console_guide import TEAM_GUIDES, guide_dir, guide_headings

FIX = "run `marketbridge guide update` and commit docs/operations"


def _guides() -> dict[str, str]:
    return {team: (guide_dir() / f"{team}.md").read_text(encoding="utf-8") for team in TEAM_GUIDES}


def _section(text: str, code: str) -> str:
    start = re.search(rf"^###\s+`{re.escape(code)}`.*$", text, flags=re.MULTILINE)
    assert start is not None
    rest = text[start.end():]
    end = re.search(r"^#{1,3}\s|<!-- END", rest, flags=re.MULTILINE)
    return rest[: end.start() if end else len(rest)]


def test_every_team_has_a_guide_and_there_is_an_index() -> None:
    for name in ("index", *TEAM_GUIDES):
        assert (guide_dir() / f"{name}.md").is_file(), name


def test_guides_list_exactly_the_issue_types_of_the_code_each_in_its_owners_guide() -> None:
    types = all_issue_types()
    assert len(types) >= 2
    guides = _guides()
    for team, text in guides.items():
        declared = {code for code, t in types.items() if t.owner.value == team}
        documented = guide_headings(text)
        assert declared - documented == set(), f"missing from the {team} guide: {sorted(declared - documented)}; {FIX}"
        assert documented - declared == set(), f"the {team} guide explains types the code does not raise for {team}: " \
                                               f"{sorted(documented - declared)}; {FIX}"


def test_each_type_says_what_it_means_and_what_to_do() -> None:
    guides = _guides()
    for code, t in all_issue_types().items():
        section = _section(guides[t.owner.value], code)
        meaning = re.search(r"\*\*What it means\.\*\*\s*(\S.{20,})", section)
        action = re.search(r"\*\*What to do\.\*\*\s*(\S.{10,})", section)
        assert meaning and action, f"{code}: the guide must say what it means and what to do"


def test_each_team_guide_covers_origins_and_daily_checks() -> None:
    for team, text in _guides().items():
        assert "## What you own" in text and "## Every day" in text, team
    index = (guide_dir() / "index.md").read_text(encoding="utf-8")
    for thing in ("SKU", "Price", "Stock", "Sales order", "Shipment", "Credit memo"):
        assert thing in index
    assert "## Alerts" in index and "Urgent alert" in index and "Daily digest" in index


def test_regenerating_keeps_hand_written_text_and_is_idempotent() -> None:
    text = "# Ops\n\nIntro.\n\n## Exception types\n\n" + console_guide.BEGIN_MARK + "\nold\n" + \
        console_guide.END_MARK + "\n\nAfter.\n"
    once = console_guide.update_guide_text(text, "ops")
    assert once.startswith("# Ops\n\nIntro.") and once.endswith("\n\nAfter.\n") and "\nold\n" not in once
    assert "### `workflow_failed`" in once
    assert console_guide.update_guide_text(once, "ops") == once


def test_rendered_guide_links_each_type_and_hides_the_markers() -> None:
    html = console_guide.render_guide("ops")
    assert 'id="type-workflow_failed"' in html
    assert "BEGIN exception types" not in html and "&lt;!--" not in html
    assert 'href="/guide"' in html and 'href="index.md"' not in html  # links between guides stay in the console
    index = console_guide.render_guide("index")
    assert 'href="/guide/ops"' in index and ".md" not in re.sub(r"<code>.*?</code>", "", index)


def test_every_declaration_in_the_source_is_loaded_by_the_catalog() -> None:
    """A type declared in a module that ``domain.catalog`` does not import would be missing from the
    registry, and so from this comparison: read the declarations straight from the source too."""
    from pathlib import Path

    import marketbridge

    root = Path(marketbridge.__file__).parent
    declared = {}
    for path in root.rglob("*.py"):
        for match in re.finditer(r'\bissue_type\(\s*"([a-z0-9_]+)"', path.read_text(encoding="utf-8")):
            declared[match.group(1)] = path.relative_to(root)
    registry = all_issue_types()
    not_loaded = {code: str(path) for code, path in declared.items() if code not in registry}
    assert not_loaded == {}, f"declared but not imported by marketbridge.domain.catalog: {not_loaded}"
    assert len(declared) >= 2, "no declaration found: is the source tree readable?"
