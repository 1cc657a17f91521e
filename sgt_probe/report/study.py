"""study.json: what `sgt-probe reproduce` concludes from a whole study, and the claims scorecard.

A study is many reports (one per world, seed and arm: `sgt_probe.cli.reproduce`); study.json
holds the paper's claims tested on them, one row each, and the per-seed numbers the Study page
draws (forest plots, per-family changes, the scaling and few-label curves, allocation by layer).
Like the report it is a versioned pydantic schema, validated whole on load.

A verdict is never written by hand: `verdict` computes it from the row's interval by one stated
rule (RULE), and loading refuses a row whose verdict is not the one its interval gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, ValidationError, model_validator

from sgt_probe.report.schema import Model, Num

STUDY_VERSION = 1
STUDY_JSON = "study.json"
CLAIMS_MD = "claims.md"

Verdict = Literal["holds", "contradicted", "not shown", "not measured"]
RULE = (
    "holds: the 95% interval excludes 0 on the side the paper claims; contradicted: it "
    "excludes 0 on the other side; not shown: it holds 0; not measured: no interval (too few "
    "seeds or reports, or a metric the reports lack)."
)


def verdict(lo: float | None, hi: float | None, direction: int) -> str:
    """RULE applied to an interval [lo, hi] and the paper's direction (+1: it claims the
    statistic is above 0, -1: below)."""
    if lo is None or hi is None:
        return "not measured"
    if lo > 0 or hi < 0:
        return "holds" if (lo > 0) == (direction > 0) else "contradicted"
    return "not shown"


class Claim(Model):
    """One row of the scorecard."""

    id: str
    """The claim's number in the scorecard (1-9, "premise"), with a suffix for a sensitivity
    row of another recipe ("1w": claim 1 under the weighted recipe) or a second part ("3b")."""
    claim: str
    """What the paper claims, in a sentence."""
    statistic: str
    """What is measured: the number per seed and how seeds are combined."""
    direction: Literal[1, -1]
    """The sign the paper's claim gives the statistic."""
    estimate: Num
    """The statistic: mean over seeds (over worlds: the mean of the per-world means)."""
    lo: Num
    """Lower end of its 95% interval (see `interval`)."""
    hi: Num
    """Upper end of the same interval."""
    n: int
    """Seeds (world x seed runs) the statistic is computed on."""
    interval: str
    """How the interval was computed."""
    recipe: str
    """The tuning recipe of the runs."""
    worlds: list[str]
    """The worlds the runs are on."""
    verdict: Verdict
    """By RULE from [lo, hi] and direction; never written by hand (checked on load)."""
    caveat: str = ""
    """What limits the row (a metric near its floor, one seed), empty when nothing does."""

    @model_validator(mode="after")
    def _verdict_follows_the_interval(self) -> Claim:
        want = verdict(self.lo, self.hi, self.direction)
        if self.verdict != want:
            raise ValueError(f"claim {self.id}: verdict {self.verdict!r} but its interval "
                             f"[{self.lo}, {self.hi}] gives {want!r}")  # fmt: skip
        return self


class SeedDelta(Model):
    """One tuning's change against the `none` control of the same world, seed and recipe."""

    world: str
    seed: int
    recipe: str
    proxy: str
    benchmark: str
    """understanding or generation."""
    family: str
    """overall or a family."""
    delta: Num
    """Its score minus the control's."""


class CurvePoint(Model):
    """One point of the scaling or few-label curve: one tuning, one seed."""

    world: str
    seed: int
    x: int
    """Distinct proxy scenes (scaling) or labelled scenes (few-label)."""
    arm: str
    """segmentation or none."""
    value: Num
    """Understanding overall minus the control's (scaling) or the few-label family's accuracy
    (few-label)."""


class LayerCurve(Model):
    """A per-layer statistic of one proxy in one world, mean over seeds."""

    world: str
    proxy: str
    what: str
    """text_image_change_pct (vs the `none` control) or <type>_share_change (a word type's
    share of generated-image attention to the prompt, vs `none`)."""
    values: list[Num]
    """[L] mean over seeds."""
    n: int


class Study(Model):
    """study.json: the scorecard and the numbers behind it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    study_version: int
    """The format's version (STUDY_VERSION when written)."""
    created: str
    """When it was written, UTC, ISO 8601."""
    recipe: str
    """The study's main recipe (its primary rows); the other recipe's rows are sensitivity
    rows."""
    rule: str
    """The verdict rule (RULE)."""
    interval_method: str
    """How intervals over seeds are computed."""
    reports: list[str]
    """The report dirs read, relative to the study dir."""
    claims: list[Claim]
    """The scorecard, in order."""
    deltas: list[SeedDelta]
    """Every tuning's change against its control, per seed (the forest plots)."""
    scaling: list[CurvePoint]
    """The data-scaling arm."""
    few_label: list[CurvePoint]
    """The few-label arm."""
    layers: list[LayerCurve]
    """Allocation by layer (the paper's Fig. 8)."""
    leak: list[SeedDelta]
    """Per seed and proxy: the share of generated scenes the leak detector calls a map
    (benchmark "leak", family "map_rate"), and the generation change vs `none` on the prompts
    where neither image is a map (family "overall_without_maps")."""

    @model_validator(mode="after")
    def _one_row_per_id(self) -> Study:
        ids = [c.id for c in self.claims]
        if len(ids) != len(set(ids)):
            raise ValueError(f"claims: an id appears twice among {ids}")
        return self


class StudyError(ValueError):
    """A study.json that cannot be read; the message is one line naming the file."""


def load_study(path: str | Path) -> Study:
    """The study at `path` (a study.json or the folder holding it), validated whole."""
    path = Path(path)
    file = path / STUDY_JSON if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise StudyError(f"{file}: no such file; run sgt-probe reproduce") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudyError(f"{file}: not a readable study ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("study_version") != STUDY_VERSION:
        version = data.get("study_version") if isinstance(data, dict) else None
        raise StudyError(f"{file}: study version {version!r}, this sgt-probe reads "
                         f"{STUDY_VERSION}; rerun sgt-probe reproduce")  # fmt: skip
    try:
        return Study.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"])) or "study"
        raise StudyError(f"{file}: {where}: {first['msg'].removeprefix('Value error, ')}"
                         ) from None  # fmt: skip


def write_study(directory: str | Path, study: Study) -> Path:
    """study.json and its markdown table (CLAIMS_MD) into `directory`, each replaced whole
    (temp file, rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in ((STUDY_JSON, study.model_dump_json(indent=1) + "\n"),
                       (CLAIMS_MD, claims_markdown(study))):  # fmt: skip
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(directory / name)
    return directory / STUDY_JSON


def _number(x: float | None, spec: str = "+.3f") -> str:
    return "n/a" if x is None else f"{x:{spec}}"


SCORECARD_HEADERS = ["#", "claim", "statistic", "estimate [95% CI]", "n", "verdict"]


def scorecard_rows(study: Study) -> list[list[str]]:
    """The scorecard's cells, one list per claim, as the markdown table and the Study page show
    them."""
    return [
        [c.id, c.claim + (f" ({c.recipe} recipe)" if c.recipe != study.recipe else ""),
         c.statistic, f"{_number(c.estimate)} [{_number(c.lo)}, {_number(c.hi)}]", str(c.n),
         f"**{c.verdict}**" + (f" ({c.caveat})" if c.caveat else "")]
        for c in study.claims
    ]  # fmt: skip


def scorecard_markdown(study: Study) -> str:
    """The scorecard as a markdown table (the README shows this block, kept equal by a test)."""
    lines = ["| " + " | ".join(SCORECARD_HEADERS) + " |", "|" + "---|" * len(SCORECARD_HEADERS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
              for row in scorecard_rows(study)]  # fmt: skip
    return "\n".join(lines) + "\n"


def claims_markdown(study: Study) -> str:
    """The markdown table (CLAIMS_MD): the scorecard, the rule and the interval method."""
    return "\n".join([
        f"# Claims scorecard ({study.recipe} recipe)",
        "",
        scorecard_markdown(study),
        f"Verdict rule: {study.rule}",
        "",
        f"Intervals: {study.interval_method}",
        "",
    ])  # fmt: skip
