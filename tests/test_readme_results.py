"""The reproduction numbers in the README are the ones its results files contain."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- results: (?P<path>\S+) -->\n(?P<table>.*?)<!-- /results -->", re.DOTALL)
NUMBER = re.compile(r"[+-]?\d+\.\d+")


def _blocks() -> list[tuple[Path, str]]:
    text = (ROOT / "README.md").read_text()
    return [(ROOT / m["path"], m["table"].strip()) for m in BLOCK.finditer(text)]


def test_readme_has_a_results_table():
    assert _blocks(), "README.md has no <!-- results: ... --> block"


def test_readme_table_equals_the_results_files():
    for path, table in _blocks():
        doc = json.loads(path.read_text())
        rows = [line for line in table.splitlines() if line.startswith("|")][2:]
        assert len(rows) == len(doc["rows"]), path
        for line, row in zip(rows, doc["rows"], strict=True):
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells == row["cells"], (path, line)
            # and the printed numbers are the stored ones, rounded
            shown = [float(x) for x in NUMBER.findall(" ".join(cells[3:]))]
            stored = [row[f"{b}_{k}"] for b in ("understanding", "generation")
                      for k in ("delta", "lo", "hi") if row.get(f"{b}_{k}") is not None]  # fmt: skip
            assert shown == [round(v, 3) + 0.0 for v in stored], (path, line)
