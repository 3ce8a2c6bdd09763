"""MkDocs hook: pages kept outside ``docs/`` join the site, and links between pages, written
relative to the repository so that they work when the files are read on their own, are pointed at
the site's pages."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
# repository path -> site page, for the pages that live outside docs/
EXTRA = {
    "README.md": "index.md",
    "CHANGELOG.md": "changelog.md",
    "src/vnaw/weights/MODEL_CARD.md": "model-card.md",
    "benchmarks/RESULTS.md": "results.md",
}
SOURCE = {page: repo for repo, page in EXTRA.items()}
LINK = re.compile(r"\]\(([^)\s#]+\.md)(#[^)\s]*)?\)")


def on_files(files, config):
    for repo, page in EXTRA.items():
        files.append(File.generated(config, page, abs_src_path=str(ROOT / repo)))
    return files


def _site_page(repo_path: str) -> str | None:
    if repo_path in EXTRA:
        return EXTRA[repo_path]
    if repo_path.startswith("docs/"):
        return repo_path.removeprefix("docs/")
    return None


def on_page_markdown(markdown, page, config, files):
    src = page.file.src_uri
    repo_src = SOURCE.get(src, f"docs/{src}")

    def relink(m: re.Match) -> str:
        target, anchor = m.group(1), m.group(2) or ""
        if "://" in target:
            return m.group(0)
        site = _site_page(posixpath.normpath(posixpath.join(posixpath.dirname(repo_src), target)))
        if site is None:  # a repository file that is not a page: leave it for --strict to report
            return m.group(0)
        return f"]({posixpath.relpath(site, posixpath.dirname(src) or '.')}{anchor})"

    return LINK.sub(relink, markdown)
