"""Every relative link in the project's documents points at a file that exists, and every
`#anchor` at a heading of the file it names (as GitHub renders them)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "RESULTS.md", "BENCHMARKS.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"#{1,6} (.*)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def relative_links(text: str) -> list[str]:
    links = LINK.findall(FENCE.sub("", text))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def test_heading_anchors_follow_githubs_rule():
    text = "# Results\n## `cfl-fn`: alike (3 seeds)\n## With a GAN, the paper's setting\n"
    text += "# Results\n"
    assert heading_anchors(text) == {
        "results",
        "cfl-fn-alike-3-seeds",
        "with-a-gan-the-papers-setting",
        "results-1",
    }


def test_links_outside_code_are_found_and_urls_skipped():
    text = "[a](RESULTS.md#x) [b](https://example.org) [c](#y)\n```\n[d](nowhere.md)\n```\n"
    assert relative_links(text) == ["RESULTS.md#x", "#y"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_resolves(document):
    text = (ROOT / document).read_text()
    broken = []
    for link in relative_links(text):
        path, _, anchor = link.partition("#")
        target = (ROOT / document).parent / path if path else ROOT / document
        if not target.exists():
            broken.append(f"{link} (no file {target.relative_to(ROOT)})")
        elif (
            target.suffix == ".md" and anchor and anchor not in heading_anchors(target.read_text())
        ):
            broken.append(f"{link} (no heading with anchor #{anchor} in {target.name})")
    assert not broken, f"{document}: broken links: " + "; ".join(broken)
