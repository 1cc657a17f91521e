"""The dependency minimums in pyproject.toml: met by what the suite runs on, and no lower than
the first release with each API the code calls (the reasons sit beside them in pyproject.toml)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^\]]*\])?>=(?P<minimum>[0-9][0-9.]*)$")
# The first release that has what the code calls; an older one fails at that call.
NEEDED = {"torch": "2.4", "scikit-learn": "1.6", "umap-learn": "0.5.11", "plotly": "6.1.1",
          "pydantic": "2.7"}  # fmt: skip


def _release(v: str) -> tuple[int, ...]:
    """'2.13.0+cpu' -> (2, 13, 0, 0): the numeric release, padded so that 6.1 == 6.1.0."""
    numbers = [int(x) for x in re.match(r"\d+(\.\d+)*", v).group().split(".")]
    return tuple(numbers + [0] * (4 - len(numbers)))


def _minimums() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    matches = {line: REQUIREMENT.match(line) for line in lines}
    assert all(matches.values()), [line for line, m in matches.items() if not m]
    return {m["name"]: m["minimum"] for m in matches.values()}


def test_every_requirement_is_a_plain_minimum_the_installed_version_meets():
    for name, minimum in _minimums().items():
        installed = version(name)
        assert _release(installed) >= _release(minimum), f"{name} {installed} < {minimum}"


def test_no_minimum_is_below_the_release_the_code_needs():
    declared = _minimums()
    for name, needed in NEEDED.items():
        assert _release(declared[name]) >= _release(needed), f"{name}>={declared[name]}"
