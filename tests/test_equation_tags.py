"""Every paper equation is findable, and every design citation resolves (docs/design.md).

* Each equation (3)–(15) of the paper is tagged exactly once in ``src/vnaw``, as a ``# Eq. (n)``
  comment on the line of code that computes it, so ``git grep -F "Eq. (n)"`` lands there. Other
  mentions write ``eq. n`` / ``eqs. a–b``; the tag form is never used for a range.
* The code cites the design document as ``design §n``; every cited section exists there, and the
  old project-internal spec is cited nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vnaw"
DESIGN = ROOT / "docs" / "design.md"
EQUATIONS = range(3, 16)

TAG = re.compile(r"\beq\.\s*\((\d+)\)", re.IGNORECASE)
TAG_RANGE = re.compile(r"\beq\.\s*\(\d+\)\s*[–-]", re.IGNORECASE)
CITATION = re.compile(r"design (§[\d.]+(?:\s*[–-]\s*§?[\d.]+)?)")
RETIRED_DOC = "SP" + "EC"  # spelled apart so that this file does not cite it


def _lines(paths):
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield path, number, line


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def _tags() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path, number, line in _lines(_sources()):
        for m in TAG.finditer(line):
            found.setdefault(int(m.group(1)), []).append(
                f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            )
    return found


@pytest.mark.parametrize("n", EQUATIONS)
def test_each_equation_tagged_once_on_code(n):
    where = _tags().get(n, [])
    assert len(where) == 1, f"Eq. ({n}) must be tagged exactly once in src/vnaw, found {where}"
    line = where[0].split(": ", 1)[1]
    code, sep, comment = line.partition("#")
    assert sep and code.strip(), f"the tag must be a comment on a line of code: {where[0]}"
    assert f"Eq. ({n})" in comment, f"write the tag exactly as `# … Eq. ({n})`: {where[0]}"


def test_no_other_tag_forms():
    stray = [f"{p}: eq. ({n})" for n, hits in _tags().items() if n not in EQUATIONS for p in hits]
    ranges = [
        f"{path.relative_to(ROOT)}:{number}"
        for path, number, line in _lines(_sources())
        if TAG_RANGE.search(line)
    ]
    assert not stray, f"only equations 3–15 are tagged: {stray}"
    assert not ranges, f"no tag ranges like `Eq. (4)–(5)`; write `eqs. 4–5`: {ranges}"


def _text_files():
    files = [
        ROOT / "README.md",
        *(ROOT / d for d in ("src", "tests", "benchmarks", "configs", "docs")),
    ]
    for f in files:
        if f.is_file():
            yield f
        elif f.is_dir():
            for p in sorted(f.rglob("*")):
                if p.suffix in (".py", ".md", ".yaml", ".yml", ".txt", ".json") and p.is_file():
                    yield p


def test_retired_spec_cited_nowhere():
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path, number, line in _lines(_text_files())
        if RETIRED_DOC in line
    ]
    assert not hits, f"cite docs/design.md as `design §n` instead: {hits}"


def _sections(text: str) -> set[str]:
    heads = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, flags=re.MULTILINE)
    return set(heads)


def test_design_citations_resolve():
    sections = _sections(DESIGN.read_text(encoding="utf-8"))
    assert {str(n) for n in range(1, 10)} <= sections
    missing = []
    for path, number, line in _lines(_text_files()):
        for m in CITATION.finditer(line):
            for ref in re.findall(r"\d+(?:\.\d+)*", m.group(1)):
                if ref.rstrip(".") not in sections:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: design §{ref}")
    assert not missing, f"cited sections missing from docs/design.md: {missing}"
