"""The repository's documents refer only to documents it has, and to sections they have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a path-like word ending in .md, as README.md or docs/design.md (not the tail of a URL)
MD_REFERENCE = re.compile(r"(?<![\w/.:-])((?:\.{1,2}/)*(?:[\w-]+/)*[\w.-]+\.md)\b")
WRITTEN = {"proxy_taxonomy.md"}  # a table analyses/ writes at run time, not a document
SECTION = re.compile(r"docs/design\.md §(\d+)((?:, §\d+)*)")


def _text_files() -> dict[Path, str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    paths = [ROOT / p for p in tracked.stdout.split()]
    paths += [p for p in ROOT.glob("docs/*.md") if p not in paths]  # new, not yet committed
    out = {}
    for path in paths:
        if path.suffix in (".py", ".md", ".toml", ".sh", ".txt", "") and path.is_file():
            try:
                out[path] = path.read_text()
            except UnicodeDecodeError:  # a binary file without a suffix
                continue
    return out


def test_every_referenced_document_exists():
    missing = [
        f"{path.relative_to(ROOT)}: {ref}"
        for path, text in _text_files().items()
        for ref in MD_REFERENCE.findall(text)
        if ref not in WRITTEN and not ((ROOT / ref).exists() or (path.parent / ref).exists())
    ]
    assert missing == []


def test_every_design_section_referred_to_exists():
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs/design.md").read_text(), re.M))
    cited = {
        number
        for text in _text_files().values()
        for first, more in SECTION.findall(text)
        for number in (first, *re.findall(r"\d+", more))
    }
    assert cited and cited <= sections, cited - sections
