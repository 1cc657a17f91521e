"""The repository's documents refer only to documents it has, and to sections they have."""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a path-like word ending in .md, as README.md or docs/design.md (not the tail of a URL)
MD_REFERENCE = re.compile(r"(?<![\w/.:-])((?:\.{1,2}/)*(?:[\w-]+/)*[\w.-]+\.md)\b")
BARE_NAME = re.compile(r"""[a-zA-Z]*(['"])[^\s'"]+\1""")  # a one-word string literal
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


def _prose(path: Path, text: str) -> str:
    """What of a file a reader reads as text: all of it, except in Python, where a string that
    is nothing but a file name (say, an analysis table's) is a path the code writes or reads,
    not a reference (the tests that run that code check it)."""
    if path.suffix != ".py":
        return text
    kept = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            kept.append(tok.string)
        elif tok.type == tokenize.STRING and not BARE_NAME.fullmatch(tok.string):
            kept.append(tok.string)
    return "\n".join(kept)


def test_every_referenced_document_exists():
    missing = [
        f"{path.relative_to(ROOT)}: {ref}"
        for path, text in _text_files().items()
        for ref in MD_REFERENCE.findall(_prose(path, text))
        if not ((ROOT / ref).exists() or (path.parent / ref).exists())
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
