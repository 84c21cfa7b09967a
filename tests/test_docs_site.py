"""The documentation site (mkdocs.yml, docs/) stays whole: every page is in the navigation, every
public name has its API entry where it lives. `mkdocs build --strict` (CI) checks links and
renders the API reference; these checks fail fast, without MkDocs installed."""

from __future__ import annotations

import re
from pathlib import Path

import scaling

ROOT = Path(__file__).resolve().parents[1]


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    config = (ROOT / "mkdocs.yml").read_text()
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", config, flags=re.M)
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(nav) == pages


def test_the_api_reference_documents_every_public_name_where_it_lives():
    entries = set(re.findall(r"^::: ([\w.]+)$", (ROOT / "docs" / "api.md").read_text(), flags=re.M))
    for name in scaling.__all__:
        assert f"{scaling._EXPORTS[name]}.{name}" in entries, name
