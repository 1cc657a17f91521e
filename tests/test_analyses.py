"""The paper-figure scripts in analyses/ on synthetic report dirs: real files, right numbers."""

from __future__ import annotations

import csv
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_report import write_synthetic_report
from scipy import stats

from sgt_probe.report.format import ReportError

ROOT = Path(__file__).resolve().parent.parent
# the fixture's first four checkpoints, renamed as a proxy sweep names them
RENAME = {"base": "base", "segmentation": "none", "depth": "segmentation", "edge": "reconstruction"}
CLASS_NAMES = ["background", "square", "circle", "triangle", "cross"]
RUNS = (("shapes", 0), ("shapes", 1), ("digits", 2))  # (world, seed): one report each


def _renamed(key: str) -> str:
    """An arrays.npz key with its checkpoint name renamed (meta/images/truth keys kept)."""
    parts = key.split("/")
    if key.startswith("explorer/attn/") or (parts[0] == "generations" and parts[1] != "truth"):
        parts[-1] = RENAME[parts[-1]]
    elif parts[0] == "embeddings" and parts[1] in RENAME:
        parts[1] = RENAME[parts[1]]
    return "/".join(parts)


def write_sweep_report(path: Path, world: str, seed: int, labels: bool = False) -> Path:
    """A synthetic report of one seed of a proxy sweep: base, none, segmentation, reconstruction."""
    write_synthetic_report(path, n_ckpts=4, seed=seed)
    doc = json.loads((path / "report.json").read_text())
    for c in doc["checkpoints"]:
        c["name"] = RENAME[c["name"]]
        c["proxy"] = None if c["name"] == "base" else c["name"]
        c["seed"] = seed
    for suite, key in (("benchmarks", "scores"), ("probes", "targets"), ("probes", "label_free"),
                       ("attention", "stats"), ("knockout", "curves"),
                       ("alignment", "checkpoints")):  # fmt: skip
        doc[suite][key] = {RENAME[k]: v for k, v in doc[suite][key].items()}
    gens = doc["benchmarks"]["generations"]
    gens["verdicts"] = {RENAME[k]: v for k, v in gens["verdicts"].items()}
    answers = doc["benchmarks"]["answers"]
    answers["correct"] = {RENAME[k]: v for k, v in answers["correct"].items()}
    for row in doc["cka"]["pairs"] + doc["benchmarks"]["deltas"]:
        row["a"], row["b"] = RENAME[row["a"]], RENAME[row["b"]]
    doc["embeddings"]["names"] = [RENAME[n] for n in doc["embeddings"]["names"]]
    doc["data"]["world"] = world
    if labels:
        doc["embeddings"]["labels"] = {"class": CLASS_NAMES, "color": list("rgbymc")}
    (path / "report.json").write_text(json.dumps(doc))
    with np.load(path / "arrays.npz") as z:
        arrays = {_renamed(k): z[k] for k in z.files}
    np.savez_compressed(path / "arrays.npz", **arrays)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for i, (world, seed) in enumerate(RUNS):
        write_sweep_report(root / f"{world}-seed{seed}" / "report", world, seed, labels=i == 0)
    return root


@pytest.fixture
def analyses():
    """sgt_probe.analyses.<name>: the module `python -m sgt_probe.analyses.<name>` runs."""
    return lambda name: importlib.import_module(f"sgt_probe.analyses.{name}")


def _reports(runs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs.rglob("report.json"))]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _t_interval(x: list[float]) -> tuple[float, float, float]:
    m, n = float(np.mean(x)), len(x)
    half = stats.t.ppf(0.975, n - 1) * np.std(x, ddof=1) / np.sqrt(n)
    return m, m - half, m + half


def _run(analyses, name: str, runs: Path, out: Path) -> int:
    return analyses(name).main([str(runs), "--out", str(out), "--no-static"])


def _make(analyses, name: str, runs: Path, out: Path):
    common = analyses("common")
    return analyses(name).make(common.find_reports([runs]), out)


def test_proxy_taxonomy_numbers_are_the_reports_numbers(analyses, runs, tmp_path, capsys):
    assert _run(analyses, "proxy_taxonomy", runs, tmp_path) == 0
    rows = {(r["world"], r["proxy"]): r for r in _csv(tmp_path / "proxy_taxonomy.csv")}
    docs = _reports(runs)

    def change(doc, proxy, bench):
        b = doc["benchmarks"]["scores"]
        return b[proxy][bench]["overall"] - b["none"][bench]["overall"]

    for world, want in (("shapes", 2), ("digits", 1), ("all worlds", 3)):
        mine = [d for d in docs if world in (d["data"]["world"], "all worlds")]
        assert len(mine) == want
        for proxy in ("segmentation", "reconstruction"):
            row = rows[(world, proxy)]
            assert int(row["n"]) == want
            for bench in ("understanding", "generation"):
                x = [change(d, proxy, bench) for d in mine]
                if want == 1:
                    assert float(row[f"{bench}_delta"]) == pytest.approx(x[0], abs=1e-12)
                    assert row[f"{bench}_lo"] == row[f"{bench}_hi"] == ""
                else:
                    got = [float(row[f"{bench}_{k}"]) for k in ("delta", "lo", "hi")]
                    assert got == pytest.approx(_t_interval(x), abs=1e-12)
    assert list(rows)[:2] == [("digits", "reconstruction"), ("digits", "segmentation")]

    doc = json.loads((tmp_path / "proxy_taxonomy.json").read_text())
    csv_rows = _csv(tmp_path / "proxy_taxonomy.csv")
    assert len(doc["rows"]) == len(csv_rows)
    for j, c in zip(doc["rows"], csv_rows, strict=True):
        assert j["understanding_delta"] == pytest.approx(float(c["understanding_delta"]), abs=1e-12)
    md = (tmp_path / "proxy_taxonomy.md").read_text()
    for j in doc["rows"]:
        assert "| " + " | ".join(j["cells"]) + " |" in md
    assert "(n=1)" in md and "(n=1)" in capsys.readouterr().out
    page = (tmp_path / "proxy_taxonomy.html").read_text()
    assert "Change vs the &#39;none&#39; control" in page or "Change vs the 'none' control" in page


def test_understanding_by_family_means_over_seeds(analyses, runs, tmp_path):
    assert _run(analyses, "understanding_by_family", runs, tmp_path) == 0
    rows = _csv(tmp_path / "understanding_by_family.csv")
    row = next(
        r
        for r in rows
        if (r["world"], r["benchmark"], r["family"], r["checkpoint"])
        == ("shapes", "understanding", "count", "segmentation")
    )
    shapes = [d for d in _reports(runs) if d["data"]["world"] == "shapes"]
    scores = [d["benchmarks"]["scores"] for d in shapes]
    acc = [s["segmentation"]["understanding"]["families"]["count"] for s in scores]
    ref = [s["none"]["understanding"]["families"]["count"] for s in scores]
    assert row["reference"] == "none" and row["n"] == "2"
    assert float(row["accuracy"]) == pytest.approx(np.mean(acc))
    got = [float(row[k]) for k in ("delta", "delta_lo", "delta_hi")]
    assert got == pytest.approx(_t_interval(np.subtract(acc, ref).tolist()))
    none_row = next(r for r in rows if r["checkpoint"] == "none")
    assert none_row["delta"] == ""  # the reference has no change against itself
    assert (tmp_path / "understanding_by_family.html").is_file()


def test_separability_draws_the_four_checkpoints_with_seed_means(analyses, runs, tmp_path):
    res = _make(analyses, "separability_by_layer", runs, tmp_path)
    assert set(res.figures) == {"separability_by_layer_shapes", "separability_by_layer_digits"}
    fig = res.figures["separability_by_layer_shapes"]
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert list(lines) == ["base", "none", "segmentation", "reconstruction"]
    shapes = [d for d in _reports(runs) if d["data"]["world"] == "shapes"]
    acc = [d["probes"]["targets"]["segmentation"]["semantic_class"]["accuracy"] for d in shapes]
    np.testing.assert_allclose(lines["segmentation"].y, np.mean(acc, axis=0))
    assert "mean of 2 seeds" in fig.layout.title.text
    digits = res.figures["separability_by_layer_digits"].layout.title.text
    assert "1 seed, 95% bootstrap CI" in digits


def test_attention_by_layer_mass_and_grounded_vs_chance(analyses, runs, tmp_path):
    res = _make(analyses, "attention_by_layer", runs, tmp_path)
    mass = res.figures["attention_text_image_shapes"]
    grounded = res.figures["attention_grounded_shapes"]
    assert "text→image attention mass" in mass.layout.title.text
    assert "Grounded precision" in grounded.layout.title.text
    assert grounded.layout.shapes and grounded.layout.shapes[0].y0 == pytest.approx(0.12)


def test_knockout_curves_per_checkpoint(analyses, runs, tmp_path):
    res = _make(analyses, "knockout_curves", runs, tmp_path)
    fig = res.figures["knockout_curves_digits"]
    lines = [t.name for t in fig.data if t.mode == "lines+markers"]
    assert lines == ["base", "none", "segmentation", "reconstruction"]


def test_umap_panels_base_vs_segmentation_at_the_middle_layer(analyses, runs, tmp_path):
    res = _make(analyses, "umap_panels", runs, tmp_path)
    assert sorted(res.figures) == [
        "umap_panels_digits_seed2",
        "umap_panels_shapes_seed0",
        "umap_panels_shapes_seed1",
    ]
    named = res.figures["umap_panels_shapes_seed0"]  # the report that names its classes
    assert [a.text for a in named.layout.annotations][:2] == ["base", "segmentation"]
    assert "layer 2" in named.layout.title.text  # stored layers 0, 2, 3
    assert "circle" in {t.name for t in named.data}
    assert "class 2" in {t.name for t in res.figures["umap_panels_shapes_seed1"].data}


def test_alignment_by_layer_averages_seeds_and_tables_the_middle_and_last_layers(
    analyses, runs, tmp_path
):
    res = _make(analyses, "alignment_by_layer", runs, tmp_path)
    assert sorted(res.figures) == sorted(
        f"alignment_{kind}_{world}"
        for kind in ("cka", "transfer", "lens_read", "lens_draw")
        for world in ("shapes", "digits")
    )
    shapes = [d for d in _reports(runs) if d["data"]["world"] == "shapes"]
    fig = res.figures["alignment_cka_shapes"]
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert list(lines) == ["base", "none", "segmentation", "reconstruction"]
    cka = [d["alignment"]["checkpoints"]["segmentation"]["cka"]["value"] for d in shapes]
    np.testing.assert_allclose(lines["segmentation"].y, np.mean(cka, axis=0))
    assert "mean of 2 seeds" in fig.layout.title.text
    assert "1 seed, 95% jackknife" in res.figures["alignment_cka_digits"].layout.title.text
    rows = _csv(tmp_path / "alignment_by_layer.csv")
    layers = shapes[0]["model"]["n_layers"]
    got = {(r["world"], r["checkpoint"], r["measure"], r["which"]): r for r in rows}
    row = got[("shapes", "none", "probe_read_to_draw", "middle")]
    x = [d["alignment"]["checkpoints"]["none"]["transfer"]["read_to_draw"]["value"][layers // 2]
         for d in shapes]  # fmt: skip
    assert [float(row[k]) for k in ("value", "lo", "hi")] == pytest.approx(_t_interval(x))
    assert int(row["layer"]) == layers // 2 and row["n"] == "2" and float(row["floor"]) == 0.25
    last = got[("digits", "base", "lens_color_draw", "last")]
    want = _reports(runs)[0]["alignment"]["checkpoints"]["base"]["lens"]["color"]["draw"]
    assert float(last["value"]) == pytest.approx(want["value"][-1])  # one seed: its own CI
    assert float(last["lo"]) == pytest.approx(want["lo"][-1])
    assert got[("shapes", "base", "cross_path_cka", "last")]["floor"] == ""


def test_a_missing_path_is_one_line_and_status_2(analyses, tmp_path, capsys):
    assert _run(analyses, "knockout_curves", tmp_path / "nope", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or directory" in err


def test_static_export_failure_keeps_the_html(analyses, runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    assert analyses("knockout_curves").main([str(runs), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "knockout_curves.html").is_file()
    assert not list(tmp_path.glob("*.png"))
    out = capsys.readouterr().out
    assert sum("PNG/SVG export skipped" in line for line in out.splitlines()) == 1


def test_make_all_writes_every_analysis(runs, tmp_path):
    """As `make figures` runs it: a fresh interpreter in the repo root, static export on."""
    out = tmp_path / "figures"
    done = subprocess.run(
        [sys.executable, "-m", "sgt_probe.analyses.make_all", str(runs), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pages = sorted(p.stem for p in out.glob("*.html"))
    assert pages == [
        "alignment_by_layer",
        "attention_by_layer",
        "claims",
        "knockout_curves",
        "proxy_taxonomy",
        "separability_by_layer",
        "umap_panels",
        "understanding_by_family",
    ]
    tables = ("proxy_taxonomy.csv", "proxy_taxonomy.json", "understanding_by_family.csv")
    for table in (*tables, "claims.md", "study.json"):
        assert (out / table).is_file()
    if "PNG/SVG export skipped" not in done.stdout:  # a machine without Chrome says so instead
        pngs = list(out.glob("*.png"))
        assert len(pngs) == len(list(out.glob("*.svg"))) >= 9
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_pooled_averages_layer_sections_over_seeds(analyses, runs):
    common = analyses("common")
    shapes = [r for r in common.find_reports([runs]) if common.world(r) == "shapes"]
    for r, share in zip(shapes, (0.8, 0.9), strict=True):  # reports written with the floor
        r.data.probes.targets["base"]["color"].majority = share
        r.data.probes.targets["base"]["color"].floor = share / 2
        for p in r.data.probes.targets.values():  # as compare writes the image-level probe
            p["object_count"].control = p["object_count"].selectivity = None
    pooled = common.pooled(shapes)
    targets = pooled.probes.targets
    assert targets["base"]["color"].majority == pytest.approx(0.85)
    assert targets["base"]["color"].floor == pytest.approx(0.425)
    assert targets["none"]["color"].majority is None  # no report has it
    assert targets["base"]["object_count"].selectivity is None
    assert pooled.names == shapes[0].names
    assert pooled.suites == ["probes", "attention", "knockout"]  # the sections it averages
    assert pooled.benchmarks is None and pooled.attention.explorer == []
    got = pooled.knockout.curves["none"]
    x = [r.data.knockout.curves["none"].relative_change for r in shapes]
    np.testing.assert_allclose(got.relative_change, np.mean(x, axis=0))
    t = stats.t.ppf(0.975, 1) * np.std(x, axis=0, ddof=1) / np.sqrt(2)
    np.testing.assert_allclose(got.hi, np.mean(x, axis=0) + t)
    mass = [r.data.attention.stats["base"].mass["sink"] for r in shapes]
    np.testing.assert_allclose(pooled.attention.stats["base"].mass["sink"], np.mean(mass, axis=0))
    grounded = [r.data.attention.stats["base"].grounded for r in shapes]
    assert pooled.attention.stats["base"].grounded.n == sum(g.n for g in grounded)
    assert common.pooled(shapes[:1]) is shapes[0].data  # one seed: the report as it is


def test_a_figure_whose_suite_did_not_run_is_skipped_naming_the_report(analyses, runs, tmp_path):
    common = analyses("common")
    reports = common.find_reports([runs])
    reports[1].data = reports[1].data.model_copy(
        update={"knockout": None, "suites": ["benchmarks", "probes", "attention", "cka"]}
    )
    with pytest.raises(ReportError, match=r"the 'knockout' suite did not run for this report"):
        analyses("knockout_curves").make(reports, tmp_path)
    assert analyses("separability_by_layer").make(reports, tmp_path).figures
