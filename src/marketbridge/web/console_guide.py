"""The operating guide (``docs/operations/*.md``) rendered inside the dashboard.

Markdown is turned into HTML by markdown-it-py (CommonMark, with tables), with raw HTML in the
source disabled so that a guide can never inject markup into the console.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

GUIDES: dict[str, str] = {
    "index": "Operating guide",
    "ecommerce": "Ecommerce",
    "ops": "Ops",
    "finance": "Finance",
    "customer_service": "Customer Service",
}

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def guide_dir() -> Path:
    """``docs/operations`` of the source checkout, or a copy shipped inside the package."""
    for candidate in (_PACKAGE_DIR.parents[1] / "docs" / "operations", _PACKAGE_DIR / "docs" / "operations"):
        if (candidate / "index.md").is_file():
            return candidate
    return _PACKAGE_DIR.parents[1] / "docs" / "operations"


def guide_path(name: str) -> Path:
    if name not in GUIDES:
        raise KeyError(name)
    return guide_dir() / f"{name}.md"


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True}).enable("table")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _heading_with_id(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    """Headings get ids so the dashboard can link to one exception type: a heading that starts
    with a code span (``### `unmapped_carrier` ...``) gets ``id="type-unmapped_carrier"``."""
    inline = tokens[idx + 1]
    children = inline.children or []
    code = next((c.content for c in children if c.type == "code_inline"), None)
    tokens[idx].attrSet("id", f"type-{code}" if code else _slug(inline.content))
    return self.renderToken(tokens, idx, options, env)


_markdown.add_render_rule("heading_open", _heading_with_id)


def _rewrite_links(html: str) -> str:
    """Links between guide files (``ops.md``) become dashboard links (``/guide/ops``)."""
    for name in GUIDES:
        html = html.replace(f'href="{name}.md', f'href="/guide/{name}')
        html = html.replace(f'href="./{name}.md', f'href="/guide/{name}')
    return html


@lru_cache(maxsize=16)
def _render_cached(name: str, mtime_ns: int) -> str:
    return _rewrite_links(_markdown.render(guide_path(name).read_text(encoding="utf-8")))


def render_guide(name: str) -> str:
    path = guide_path(name)
    if not path.is_file():
        return "<p>This guide is not installed on this server.</p>"
    return _render_cached(name, path.stat().st_mtime_ns)
