"""Reading against drawing by layer: cross-path CKA, probe transfer and the logit lens.

Per world, for base, none, segmentation and the first of reconstruction / inpainting present:
the CKA between the residuals of the same patches read and drawn, the object-class probe
fitted on the read path and scored on the draw path (beside the 1/K floor), and the logit
lens's class-word accuracy on each path; mean over seeds with a 95% t-interval (one seed: the
report's own interval: jackknife for CKA, bootstrap for the others). And a table of every
checkpoint's measures at the middle and the last layer, each beside its floor. Writes
alignment_by_layer.csv and .html (+ .png, .svg).

    python -m sgt_probe.analyses.alignment_by_layer RUNS_OR_REPORT_DIRS... --out DIR
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from sgt_probe.analyses import common
from sgt_probe.report.format import Report, ReportError
from sgt_probe.report.schema import (
    Alignment,
    LayerScores,
    Lens,
    PathAlignment,
    ReportData,
    Transfer,
)
from sgt_probe.viz import views
from sgt_probe.viz.html import html_table

WANTED = ("base", "none", "segmentation")
TRANSFER_FIELDS = ("read", "read_to_draw", "draw", "draw_to_read")
# table measure -> (the LayerScores of a checkpoint's measures, or None; its floor, or None)
Getter = Callable[[PathAlignment], tuple[LayerScores | None, float | None]]
MEASURES: dict[str, Getter] = {
    "cross_path_cka": lambda a: (a.cka, None),
    **{
        f"probe_{f}": (lambda a, f=f: (getattr(a.transfer, f), a.transfer.floor) if a.transfer
                       else (None, None))
        for f in TRANSFER_FIELDS
    },
    **{
        f"lens_{t}_{p}": (lambda a, t=t, p=p: (getattr(a.lens[t], p), a.lens[t].floor)
                          if t in a.lens else (None, None))
        for t in ("semantic_class", "color") for p in ("read", "draw")
    },
}  # fmt: skip
COLUMNS = ["world", "checkpoint", "measure", "layer", "which", "n", "value", "lo", "hi", "floor"]


def _pool(scores: Sequence[LayerScores]) -> LayerScores:
    """Per layer, the mean over seeds with its t-interval; one seed keeps its own interval."""
    mean, lo, hi = common.mean_ci([s.value for s in scores])
    if lo is None:
        return scores[0]
    return LayerScores(value=mean.tolist(), lo=lo.tolist(), hi=hi.tolist())


def _floor(floors: Sequence[float | None]) -> float | None:
    return common.summary(floors)[0]


def _pool_transfer(ts: Sequence[Transfer]) -> Transfer:
    fields = {f: _pool([getattr(t, f) for t in ts]) for f in TRANSFER_FIELDS}
    return Transfer(**fields, floor=_floor([t.floor for t in ts]), n_classes=ts[0].n_classes)


def _pool_lens(ls: Sequence[Lens]) -> Lens:
    return Lens(words=ls[0].words, read=_pool([x.read for x in ls]),
                draw=_pool([x.draw for x in ls]), floor=_floor([x.floor for x in ls]),
                n_classes=ls[0].n_classes)  # fmt: skip


def pooled(reports: Sequence[Report]) -> ReportData:
    """The first report with its alignment section averaged over `reports` (seeds of one
    world): each per-layer mean over the seeds that have it, its band the t-interval over
    them. One report is returned as it is."""
    if len(reports) == 1:
        return reports[0].data
    checkpoints = list({c.name: c for r in reports for c in r.data.checkpoints}.values())
    out = {}
    for c in checkpoints:
        per = [r.data.alignment.checkpoints[c.name] for r in reports
               if c.name in r.data.alignment.checkpoints]  # fmt: skip
        if not per:
            continue
        cka = [a.cka for a in per if a.cka is not None]
        transfer = [a.transfer for a in per if a.transfer is not None]
        targets = dict.fromkeys(t for a in per for t in a.lens)
        out[c.name] = PathAlignment(
            cka=_pool(cka) if cka else None,
            transfer=_pool_transfer(transfer) if transfer else None,
            lens={t: _pool_lens([a.lens[t] for a in per if t in a.lens]) for t in targets},
        )
    section = Alignment(checkpoints=out, n_scenes=reports[0].data.alignment.n_scenes)
    return reports[0].data.model_copy(update={"alignment": section, "checkpoints": checkpoints})


def table(reports: list[Report]) -> list[dict]:
    """Rows of COLUMNS: every checkpoint's measures at the middle and the last layer, per world."""
    rows = []
    for world, group in common.by_world(reports).items():
        data = pooled(group)
        n_layers = data.model.n_layers
        layers = {"middle": n_layers // 2, "last": n_layers - 1}
        for name, a in data.alignment.checkpoints.items():
            n = sum(name in r.data.alignment.checkpoints for r in group)
            for measure, get in MEASURES.items():
                scores, floor = get(a)
                if scores is None:
                    continue
                for which, layer in layers.items():
                    rows.append({
                        "world": world, "checkpoint": name, "measure": measure, "layer": layer,
                        "which": which, "n": n, "value": scores.value[layer],
                        "lo": scores.lo[layer], "hi": scores.hi[layer], "floor": floor,
                    })  # fmt: skip
    return rows


def make(reports: list[Report], out: Path) -> common.Result:
    common.require(reports, "alignment")
    groups = common.by_world(reports)
    figs = {}
    for world, group in groups.items():
        only = common.present(group, WANTED) + common.low_level(group)
        if not only:
            raise ReportError(f"{world}: none of {', '.join(WANTED)} or a low-level proxy present")
        data, sfx = pooled(group), common.suffix(world, groups)
        ci = common.ci_phrase(group)
        one_seed = len(group) == 1
        figs[f"alignment_cka{sfx}"] = views.cross_path_cka(
            data, only, ci=("1 seed, 95% jackknife interval" if one_seed else ci)
        )
        figs[f"alignment_transfer{sfx}"] = views.probe_transfer(data, "read_to_draw", only, ci=ci)
        for path in views.PATHS:
            figs[f"alignment_lens_{path}{sfx}"] = views.logit_lens(
                data, "semantic_class", path, only, ci=ci
            )
    rows = table(reports)
    common.write_csv(out / "alignment_by_layer.csv", COLUMNS, rows)
    shown = [{
        "world": r["world"], "checkpoint": r["checkpoint"], "measure": r["measure"],
        "layer": f"{r['layer']} ({r['which']})",
        "value (95% CI)": common.with_ci(r["value"], r["lo"], r["hi"], r["n"], ".3f"),
        "floor": r["floor"],
    } for r in rows if r["measure"] in ("cross_path_cka", "probe_read_to_draw",
                                        "lens_semantic_class_read")]  # fmt: skip
    notes = {views.alignment_note(r.data) for r in reports} - {""}
    html = [f"<p>{__doc__.strip().splitlines()[0]} The table: the middle and last layers "
            "(every measure, both paths, in alignment_by_layer.csv).</p>",
            *(f"<p>{escape(n)}</p>" for n in sorted(notes)), html_table(shown)]  # fmt: skip
    return common.Result("alignment_by_layer", "Reading against drawing by layer", figs, html)


def main(argv=None) -> int:
    return common.main(make, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
