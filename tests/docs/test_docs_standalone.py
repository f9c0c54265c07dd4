"""The README and docs/ stand alone: they cite official documents by name and number, never files
that are not in the repository (the developers' seed folder, their method notes), and every
relative link points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for outside in ("seeds/", "SIPAS_METHOD", "shared/", "seed `0", "(seed 0"):
        assert outside not in text, f"{doc.name} cites {outside!r}, which is not in the repository"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{doc.name}: link to {target} does not exist"


def test_sources_name_the_documents_by_number() -> None:
    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    for number in ("1001/QĐ-BNV", "2640/QĐ-BNV", "864/QĐ-UBND", "2032/QĐ-UBND", "4265/KH-UBND", "1516/KH-UBND",
                   "688/QĐ-UBND"):
        assert number in text, number
