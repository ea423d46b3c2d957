"""Every relative link in the Markdown documentation leads somewhere.

A link ``[text](path)`` or ``[text](path#anchor)`` in README.md, MODEL_CARD.md, CHANGELOG.md,
colab/README.md or docs/*.md must name a file or folder of the repository (relative to the
page that links it), and its ``#anchor``, on a Markdown page, must be one of that page's
headings as GitHub makes anchors from them (lower case, punctuation but ``-`` and ``_``
dropped, spaces to ``-``, ``-1``, ``-2``... for repeats). Model cards moved into ``docs/``
kept links written for the repository root; this finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"#{1,6}\s+(.*)")


def documentation_pages() -> list[Path]:
    """The Markdown pages users read, in a fixed order."""
    pages = [REPO / "README.md", REPO / "MODEL_CARD.md", REPO / "CHANGELOG.md"]
    pages += sorted((REPO / "colab").glob("*.md")) + sorted((REPO / "docs").glob("*.md"))
    return [page for page in pages if page.is_file()]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading's text (before numbering repeats)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def page_anchors(page: Path) -> set[str]:
    """Anchors of every heading of ``page`` outside fenced code blocks."""
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else HEADING.match(line)
        if match:
            anchor = github_anchor(match.group(1))
            repeat = counts.get(anchor, 0)
            counts[anchor] = repeat + 1
            anchors.add(anchor if repeat == 0 else f"{anchor}-{repeat}")
    return anchors


def broken_links(page: Path) -> list[str]:
    """``"target: why"`` for each relative link of ``page`` that leads nowhere."""
    problems = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-zA-Z][a-zA-Z+.-]*:", target):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path) if path else page
        if not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in page_anchors(linked):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


def test_anchor_rule_matches_githubs_on_known_headings():
    assert github_anchor("1e. How sure the bars are: paired intervals (model 3.4, test split)") == (
        "1e-how-sure-the-bars-are-paired-intervals-model-34-test-split"
    )
    assert github_anchor("Activation ranges: `--int8_ranges mse`") == (
        "activation-ranges---int8_ranges-mse"
    )


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading) [gone](missing.md) [no anchor](other.md#b) [web](https://x.y)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#b: no heading with anchor #b",
    ]


@pytest.mark.parametrize("page", documentation_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_somewhere(page):
    assert broken_links(page) == []
