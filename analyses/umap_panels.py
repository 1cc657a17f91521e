"""UMAP panels of image-token states, base vs segmentation, at the middle stored layer.

One figure per report (UMAP coordinates of different seeds do not share axes, so they are not
averaged), points coloured by the semantic class of their patch. Writes umap_panels.html
(+ one .png, .svg per report).

    python -m sgt_probe.analyses.umap_panels RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import UMAP_PAIR, Report, ReportError
from sgt_probe.viz import views


def make(reports: list[Report], out: Path) -> common.Result:
    figs = {}
    for r in reports:
        layers = r.need("embeddings").layers
        layer = layers[len(layers) // 2]
        only = [n for n in UMAP_PAIR if n in r.embedded] or r.embedded[:2]
        world, seed = common.world(r), common.run_seed(r)
        key = f"umap_panels_{world}_seed{seed}"
        while key in figs:  # two runs of one world and seed: keep both
            key += "_"
        try:
            figs[key] = views.embeddings(r.data, r.arrays, only, layer, "class")
        except KeyError as e:
            raise ReportError(f"{r.path}: {e.args[0]}") from None
        title = f"{figs[key].layout.title.text}; {world} world, seed {seed}"
        figs[key].update_layout(title_text=title)
    return common.Result("umap_panels", "UMAP of image-token states", figs)


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
