"""The project's documentation holds what its code cites: every docs/ page (and quoted section) named in the
code exists, and nothing points at design notes outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for p in [*ROOT.glob("*.py"), *ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")]
    + [p for folder in ("vit_core", "viz_app", "tests", "bench", "scripts") for p in (ROOT / folder).rglob("*")
       if p.suffix in (".py", ".md", ".sh")]
)
CITATION = re.compile(r"(docs/[\w./-]+\.md)(?:, \"([^\"]+)\")?")
OUTSIDE = re.compile(r"(?<!docs/)\b(?:MATH|UI-NOTES|ARCHITECTURE)\.md")  # the design notes, not docs/


def _citations() -> list[tuple[Path, str, str | None]]:
    found = []
    for path in SOURCES:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            found.append((path, match.group(1), match.group(2)))
    return found


def _headings(page: Path) -> set[str]:
    """A page's headings, without the "(`module.py`)" that names where the code lives."""
    lines = page.read_text(encoding="utf-8").splitlines()
    return {re.sub(r"\s*\(`[^)]*\)$", "", line.lstrip("#").strip()) for line in lines if line.startswith("#")}


def test_every_cited_docs_page_and_section_exists():
    citations = _citations()
    assert len({page for _, page, _ in citations}) >= 2, citations  # the checker sees the code's citations
    for path, page, section in citations:
        target = ROOT / page
        assert target.is_file(), f"{path.relative_to(ROOT)} cites {page}, which does not exist"
        if section is not None:
            assert section in _headings(target), f"{path.relative_to(ROOT)} cites {page}, {section!r}: no such heading"


def test_nothing_cites_design_notes_outside_the_repository():
    stray = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in SOURCES
        for match in OUTSIDE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not stray, stray
