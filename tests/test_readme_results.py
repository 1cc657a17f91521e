"""The numbers in the README and the docs are the ones their results files contain."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/bases.md", "docs/study.md")


def _marked(kind: str) -> list[tuple[Path, str]]:
    """(file, table) for each `<!-- KIND: PATH --> ... <!-- /KIND -->` block of the README and
    the docs."""
    block = re.compile(
        rf"<!-- {kind}: (?P<path>\S+) -->\n(?P<table>.*?)<!-- /{kind} -->", re.DOTALL
    )
    text = "\n".join((ROOT / d).read_text() for d in DOCUMENTS)
    return [(ROOT / m["path"], m["table"].strip()) for m in block.finditer(text)]


# scores: a table of `sgt-probe eval --out PATH` results, one row per (benchmark, family) with
# the held-out score and its floor.
def _blocks() -> list[tuple[Path, str]]:
    return _marked("scores")


def test_readme_has_a_scores_table():
    assert _blocks(), "no document has a <!-- scores: ... --> block"


def _stored(result: dict, family: str) -> tuple[float, float]:
    if family == "overall":
        return result["overall"], result["floor"]["overall"]
    return result["families"][family], result["floor"]["families"][family]


def test_readme_scores_equal_the_eval_files():
    for path, table in _blocks():
        doc = json.loads(path.read_text())
        rows = [line for line in table.splitlines() if line.startswith("|")][2:]
        assert rows, path
        for line in rows:
            bench, family, score, floor = (c.strip() for c in line.strip("|").split("|"))
            want = _stored(doc[bench], family.replace(" ", "_"))
            assert (float(score), float(floor)) == tuple(round(v, 3) for v in want), line


# table: a Markdown table an analysis wrote (the study's, kept under docs/study/), pasted whole.
def test_readme_tables_equal_the_analysis_files():
    found = _marked("table")
    assert found, "no document has a <!-- table: ... --> block"
    for path, table in found:
        assert table == path.read_text().strip(), path
