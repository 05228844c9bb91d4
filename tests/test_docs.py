"""The docs stay true to the code: options, cited pages, links, README length, no outside files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dmtl import config

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
MAX_README_LINES = 210
# Files outside the repository that nothing in it may cite (spelt in parts, so this file does not).
OUTSIDE = ("REFERENCE" + ".md", "ARCHITECTURE" + ".md", ".." + "/shared")
SCANNED = ("src", "tests", "experiments", "docs")
CITED_PAGE = re.compile(r"docs/([A-Za-z0-9_-]+\.md)")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _groups() -> dict[str, type]:
    """Option group name (``network``, ``diffusion``, ...) -> its dataclass in ``dmtl.config``."""
    return {name: cls for name, cls in config.GROUPS.items() if dataclasses.is_dataclass(cls)}


def _files(*roots: str) -> list[Path]:
    paths = []
    for root in roots:
        paths += [
            p
            for p in sorted((REPO / root).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    return paths


def _markdown_pages() -> list[Path]:
    pages = [README, *sorted(DOCS.glob("*.md")), *sorted((REPO / "experiments").rglob("*.md"))]
    return [p for p in pages if p.is_file()]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a markdown page."""
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_option_groups_exist() -> None:
    assert {"network", "diffusion", "denoiser", "loss", "optim", "evaluation", "speed"} <= set(
        _groups()
    )


@pytest.mark.parametrize("group", sorted(_groups()))
def test_every_option_is_documented(group: str) -> None:
    text = (DOCS / "options.md").read_text(encoding="utf-8")
    missing = [
        f"model.{group}.{f.name}"
        for f in dataclasses.fields(_groups()[group])
        if f"model.{group}.{f.name}" not in text
    ]
    assert not missing, f"docs/options.md lacks {missing}"


def test_cited_docs_pages_exist() -> None:
    cited: dict[str, set[str]] = {}
    for path in [README, *_files("src", "tests", "experiments")]:
        if path.suffix in {".ckpt", ".pt", ".pth", ".npy", ".png", ".jpg"}:
            continue
        for page in CITED_PAGE.findall(path.read_text(encoding="utf-8", errors="ignore")):
            cited.setdefault(page, set()).add(str(path.relative_to(REPO)))
    missing = {page: sorted(by) for page, by in cited.items() if not (DOCS / page).is_file()}
    assert cited, "no docs/ page is cited anywhere"
    assert not missing, f"cited docs pages that do not exist: {missing}"


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"
    # the fresh-machine commands come first
    assert lines[2] == "```bash", lines[:5]
    assert lines[3].startswith("make train") and lines[4].startswith("make test"), lines[:5]


def test_no_file_cites_outside_files() -> None:
    offenders = []
    for path in [README, *_files(*SCANNED)]:
        data = path.read_bytes()
        offenders += [
            f"{path.relative_to(REPO)}: {name}" for name in OUTSIDE if name.encode() in data
        ]
    assert not offenders, offenders


def test_relative_links_resolve() -> None:
    broken = []
    for page in _markdown_pages():
        for target in MD_LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(REPO)} -> {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{where} (no such heading)")
    assert not broken, broken
