"""benchmarks/leak_share.py: the share of a generation change carried by the items drawn as
maps, against a count by hand on a synthetic report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from fixtures_report import write_synthetic_report

BENCH = Path(__file__).parents[1] / "benchmarks" / "leak_share.py"
_SPEC = importlib.util.spec_from_file_location("leak_share", BENCH)
leak_share = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(leak_share)


def test_the_leaks_share_is_the_score_with_its_map_items_swapped(tmp_path, capsys):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2, n_generations=36)
    doc = json.loads((path / "report.json").read_text())
    gens = doc["benchmarks"]["generations"]
    n = len(gens["items"])
    maps = (np.arange(n) % 3 == 0).tolist()  # every third prompt drawn as a map
    gens["verdicts"]["segmentation"] = [not m and i % 2 == 0 for i, m in enumerate(maps)]
    doc["benchmarks"]["leak"] = {
        name: {"map_rate": float(np.mean(m)), "lo": 0.0, "hi": 1.0, "palette_share": 0.0,
               "maps": m}
        for name, m in (("base", [False] * n), ("segmentation", maps))
    }  # fmt: skip
    (path / "report.json").write_text(json.dumps(doc))

    assert leak_share.main([str(path)]) == 0
    out = capsys.readouterr().out
    fam = [it["family"] for it in gens["items"]]
    seg, base = gens["verdicts"]["segmentation"], gens["verdicts"]["base"]

    def by_hand(verdicts):  # the mean over families of each family's pass rate
        rates = {}
        for f, v in zip(fam, verdicts, strict=True):
            rates.setdefault(f, []).append(v)
        return sum(sum(v) / len(v) for v in rates.values()) / len(rates)

    swapped = [b if m else s for s, b, m in zip(seg, base, maps, strict=True)]
    carried = by_hand(seg) - by_hand(swapped)
    assert f"{sum(maps)} of {n} generations drawn as maps" in out
    assert f"carry {carried:+.3f}" in out
    share = carried / (by_hand(seg) - by_hand(base))
    assert f"({share:.0%} of the change)" in out
