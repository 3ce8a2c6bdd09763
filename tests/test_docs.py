"""The user documents: short where they must be, no references a reader cannot follow, every
relative link resolving, every page of docs/ in the site's navigation."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
CARD = ROOT / "src" / "vnaw" / "weights" / "MODEL_CARD.md"
# Pages of docs/ and the documents a user meets first.
DOCUMENTS = [README, CARD, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
# A tracker, a machine or a day the reader does not share.
DANGLING = re.compile(r"issue \d+|\btoday\b|this machine|measured here|ANCHORS\.md", re.IGNORECASE)
LINK = re.compile(r"\]\(([^)\s#]+)(#[^)\s]*)?\)")


def test_readme_and_model_card_are_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150
    assert len(CARD.read_text(encoding="utf-8").splitlines()) <= 150


def test_no_dangling_references():
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {m.group(0)}"
        for path in DOCUMENTS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for m in DANGLING.finditer(line)
    ]
    assert not hits, hits


def test_relative_links_resolve():
    broken = [
        f"{path.relative_to(ROOT)}: {m.group(1)}"
        for path in DOCUMENTS
        for m in LINK.finditer(path.read_text(encoding="utf-8"))
        if "://" not in m.group(1) and not (path.parent / m.group(1)).exists()
    ]
    assert not broken, broken


def test_every_page_of_docs_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("*.md")}
    missing = sorted(p for p in pages if not re.search(rf":\s+{re.escape(p)}\s*$", nav, re.M))
    assert not missing, f"add to mkdocs.yml's nav: {missing}"


def test_the_checks_catch_what_they_are_for():
    assert DANGLING.search("as measured today on this machine")
    assert DANGLING.search("see Issue 13") and not DANGLING.search("the issue's target")
    assert LINK.search("[x](docs/a.md#b)").group(1) == "docs/a.md"
