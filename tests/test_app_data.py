"""The dashboard without a browser: report lookup and queries, the served app, the CLI."""

from __future__ import annotations

import base64
import io
import json
import os

import dash
import numpy as np
import pytest
from fixtures_report import write_synthetic_report
from PIL import Image

from sgt_probe.app import data, ids
from sgt_probe.app.app import create_app
from sgt_probe.app.components import png_uri
from sgt_probe.cli import main
from sgt_probe.report.format import ReportError, key_attn
from sgt_probe.report.schema import SCHEMA_VERSION
from sgt_probe.viz import views


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    return write_synthetic_report(tmp_path_factory.mktemp("synthetic") / "report", n_ckpts=3)


@pytest.fixture
def report(report_dir):
    data.set_report_dirs([report_dir])
    return data.get(str(report_dir))


# ---- lookup ----


def test_get_refuses_dirs_it_does_not_serve(report_dir, tmp_path):
    other = write_synthetic_report(tmp_path / "other", n_ckpts=2)
    data.set_report_dirs([report_dir])
    for key in (str(other), f"{report_dir}/../..", "../etc", None):
        with pytest.raises(ReportError, match="not one of the report dirs"):
            data.get(key)


def test_get_caches_and_reloads_a_rewritten_report(tmp_path):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    data.set_report_dirs([path])
    first = data.get(str(path))
    assert data.get(str(path)) is first
    report_json = path / "report.json"
    doc = json.loads(report_json.read_text())
    doc["created"] = "later"
    report_json.write_text(json.dumps(doc))
    st = os.stat(report_json)  # a later mtime even where the clock is coarse
    os.utime(report_json, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert data.get(str(path)).data.created == "later"


def test_missing_and_damaged_dirs_raise_one_line_report_errors(tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "report.json").write_text("{")
    data.set_report_dirs([tmp_path / "missing", damaged])
    for key, why in ((tmp_path / "missing", "missing"), (damaged, "damaged JSON")):
        with pytest.raises(ReportError, match=why) as e:
            data.get(str(key))
        assert "\n" not in str(e.value)


# ---- queries ----


def test_attention_maps_average_heads_and_only_the_real_tokens(report):
    names = report.names[:2]
    n_tokens = len(report.data.attention.explorer[1].tokens)
    a = report.arrays[key_attn("base")][1, 2].astype(np.float32)  # [H, T, P]
    grid = report.data.model.grid
    maps = data.attention_maps(report, names, sample=1, layer=2, head=-1, token=-1)
    assert list(maps) == names and maps["base"].shape == (grid, grid)
    expected = a[:, :n_tokens].mean(axis=(0, 1)).reshape(grid, grid)
    np.testing.assert_allclose(maps["base"], expected, rtol=1e-6)
    one = data.attention_maps(report, ["base"], sample=1, layer=2, head=3, token=0)["base"]
    np.testing.assert_allclose(one.reshape(-1), a[3, 0])


def test_token_weights_read_one_patch_column(report):
    w = data.token_weights(report, ["base"], sample=0, layer=1, head=2, patch=9)["base"]
    n_tokens = len(report.data.attention.explorer[0].tokens)
    np.testing.assert_allclose(w, report.arrays[key_attn("base")][0, 1, 2, :n_tokens, 9])


def test_patch_at_maps_click_coordinates_to_patches():
    assert data.patch_at(0, 0, patch_size=4, grid=8) == 0
    assert data.patch_at(-0.5, -0.5, 4, 8) == 0  # the image's top-left corner
    assert data.patch_at(5.0, 1.0, 4, 8) == 1
    assert data.patch_at(1.5, 9.5, 4, 8) == 16  # heatmap cell centre, row 2 col 0
    assert data.patch_at(31.4, 31.4, 4, 8) == 63
    assert data.patch_at(32.0, 0, 4, 8) is None


def test_target_mask_is_the_named_instance(report):
    mask = data.target_mask(report, 0)
    assert mask.dtype == bool and mask.any() and not mask.all()


def test_generation_indices_fixed_and_broken_are_relative_to_the_reference(report):
    verdicts = report.data.benchmarks.generations.verdicts
    ref, tuned = np.array(verdicts["base"]), np.array(verdicts["segmentation"])
    fixed = data.generation_indices(report, data.ALL, "fixed", "segmentation")
    broken = data.generation_indices(report, data.ALL, "broken", "segmentation")
    assert fixed == np.nonzero(~ref & tuned)[0].tolist()
    assert broken == np.nonzero(ref & ~tuned)[0].tolist()
    items = report.data.benchmarks.generations.items
    counting = data.generation_indices(report, "counting", data.ALL, "segmentation")
    assert counting and all(items[i].family == "counting" for i in counting)


def test_png_uri_round_trips_the_pixels():
    image = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    uri = png_uri(image)
    assert uri.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert np.array_equal(decoded, image)


# ---- the served app, without a browser ----


def _serve(dirs):
    """The app's test client after its first request (which claims the pages' callbacks)."""
    client = create_app(dirs).server.test_client()
    assert client.get("/").status_code == 200
    return client


def _call(client, output_prefix: str, values: dict) -> dict:
    """Run the callback whose output starts with `output_prefix` as the browser would."""
    deps = json.loads(client.get("/_dash-dependencies").data)
    dep = next(d for d in deps if d["output"].lstrip(".").startswith(output_prefix))
    parts = dep["output"].strip(".").split("...")
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
    payload = {
        "output": dep["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{**i, "value": values.get(i["id"])} for i in dep["inputs"]],
        "state": [{**s, "value": values.get(s["id"])} for s in dep["state"]],
        "changedPropIds": [],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)["response"]


def test_every_page_is_registered_and_served(report_dir):
    client = _serve([report_dir])
    paths = sorted(p["path"] for p in dash.page_registry.values())
    assert paths == ["/", "/alignment", "/attention", "/embeddings", "/generations", "/knockout",
                     "/separability", "/study"]  # fmt: skip
    for path in paths:
        assert client.get(path).status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_a_damaged_report_becomes_a_note_not_an_error(tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "report.json").write_text("[1, 2")
    client = _serve([damaged])
    out = _call(client, ids.OV_NOTE, {ids.REPORT: str(damaged)})
    note = json.dumps(out[ids.OV_NOTE]["children"])
    assert "damaged JSON" in note and "Cannot show this report" in note
    assert set(out) == {ids.OV_NOTE}  # the other outputs are left as they were


def test_a_report_without_a_suite_says_so(tmp_path):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    doc = json.loads((path / "report.json").read_text())
    doc["attention"] = doc["benchmarks"] = None  # as `compare --suites probes,...` writes it
    doc["suites"] = [s for s in doc["suites"] if s not in ("attention", "benchmarks")]
    (path / "report.json").write_text(json.dumps(doc))
    client = _serve([path])
    key = {ids.REPORT: str(path)}
    for note in (ids.ATT_NOTE, ids.GEN_NOTE):
        said = json.dumps(_call(client, note, key)[note]["children"])
        assert "suite did not run for this report" in said, note
    overview = _call(client, ids.OV_NOTE, key)
    assert "not run: benchmarks, attention" in json.dumps(overview[ids.OV_CHECKPOINTS])
    assert overview[ids.OV_SCORES]["figure"]["layout"]["annotations"][0]["text"] == views.not_run(
        "benchmarks"
    )


def test_what_the_world_could_not_support_is_said_on_its_page(tmp_path):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    doc = json.loads((path / "report.json").read_text())
    # as compare writes a folder world whose questions name no object
    doc["skipped"] = {"generation": "the judge needs a generated world",
                      "attention explorer": "no held-out question names an object"}  # fmt: skip
    doc["benchmarks"]["generations"] = {"items": [], "verdicts": {"base": [], "segmentation": []}}
    doc["attention"]["explorer"] = []
    (path / "report.json").write_text(json.dumps(doc))
    client = _serve([path])
    key = {ids.REPORT: str(path)}
    said = json.dumps(_call(client, ids.GEN_NOTE, key)[ids.GEN_NOTE]["children"])
    assert "generation skipped: the judge needs a generated world" in said
    said = json.dumps(_call(client, ids.ATT_NOTE, key)[ids.ATT_NOTE]["children"])
    assert "attention explorer skipped: no held-out question names an object" in said
    overview = json.dumps(_call(client, ids.OV_NOTE, key)[ids.OV_CHECKPOINTS])
    assert "generation skipped: the judge needs a generated world." in overview


def test_pages_render_from_the_report(report_dir):
    client = _serve([report_dir])
    key = {ids.REPORT: str(report_dir)}
    out = _call(client, ids.OV_NOTE, key)
    assert out[ids.OV_NOTE]["children"] == ""
    assert len(out[ids.OV_SCORES]["figure"]["data"]) == 2 * 3
    values = {
        **key,
        ids.ATT_SAMPLE: 0,
        ids.ATT_TOKEN: 1,
        ids.ATT_HEAD: -1,
        ids.ATT_LAYER: 2,
        ids.ATT_CHECKPOINTS: ["base", "depth"],
        ids.ATT_PATCH: 10,
    }
    overlay = _call(client, ids.ATT_OVERLAY, values)[ids.ATT_OVERLAY]["figure"]
    assert "layer 2" in overlay["layout"]["title"]["text"]
    assert sum(t["type"] == "heatmap" for t in overlay["data"]) == 2


def test_the_reading_and_drawing_page_follows_its_controls(report_dir):
    client = _serve([report_dir])
    key = {ids.REPORT: str(report_dir)}
    out = _call(client, ids.ALN_NOTE, key)
    assert out[ids.ALN_NOTE]["children"] == ""  # nothing skipped
    assert "Cross-path CKA" in out[ids.ALN_CKA]["figure"]["layout"]["title"]["text"]
    transfer = _call(client, ids.ALN_TRANSFER, key | {ids.ALN_DIRECTION: "draw_to_read"})
    assert "draw → read" in transfer[ids.ALN_TRANSFER]["figure"]["layout"]["title"]["text"]
    values = key | {ids.ALN_LENS_TARGET: "color", ids.ALN_LENS_PATH: "draw"}
    title = _call(client, ids.ALN_LENS, values)[ids.ALN_LENS]["figure"]["layout"]["title"]["text"]
    assert "drawing" in title and "color words" in title


def test_embeddings_offer_only_the_embedded_checkpoints(report_dir, tmp_path):
    key = {ids.REPORT: str(report_dir)}
    setup = _call(_serve([report_dir]), ids.EMB_NOTE, key)  # no "names": every checkpoint
    assert setup[ids.EMB_CHECKPOINTS]["options"] == ["base", "segmentation", "depth"]

    path = write_synthetic_report(tmp_path / "study", n_ckpts=3)
    doc = json.loads((path / "report.json").read_text())
    doc["embeddings"]["names"] = ["base", "depth"]  # as `reproduce` writes: the figures' pair
    (path / "report.json").write_text(json.dumps(doc))
    setup = _call(_serve([path]), ids.EMB_NOTE, {ids.REPORT: str(path)})
    assert setup[ids.EMB_CHECKPOINTS]["options"] == ["base", "depth"]
    assert setup[ids.EMB_CHECKPOINTS]["value"] == ["base", "depth"]


# ---- CLI ----


@pytest.fixture
def cli():
    import sgt_probe.cli.dash  # noqa: F401  registers the command

    return main


def test_cli_refuses_a_missing_dir_in_one_line(cli, tmp_path, capsys):
    assert cli(["dash", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'nope'}: no such report directory"


def test_cli_serves_on_localhost_by_default(cli, report_dir, monkeypatch):
    served = {}

    def run(self, **kw):
        served.update(kw)
        self.server.test_client().get("/")  # claims the pages' callbacks, as serving would

    monkeypatch.setattr(dash.Dash, "run", run)
    assert cli(["dash", str(report_dir), str(report_dir)]) == 0
    assert served == {"host": "127.0.0.1", "port": 8050, "debug": False}
    assert data.report_dirs() == [str(report_dir)] * 2


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d["benchmarks"]["scores"]["base"].pop("proxy_quality"),
         "benchmarks.scores.base: missing field 'proxy_quality'"),
        (lambda d: d["checkpoints"][1].update(title=d["checkpoints"][1].pop("name")),
         "checkpoints.1: missing field 'name'; checkpoints.1: unknown field 'title'"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1),
         f"schema_version {SCHEMA_VERSION + 1} is newer than this sgt-probe reads"),
    ],
)  # fmt: skip
def test_cli_refuses_a_report_it_cannot_read_in_one_line(cli, tmp_path, capsys, change, said):
    path = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    doc = json.loads((path / "report.json").read_text())
    change(doc)
    (path / "report.json").write_text(json.dumps(doc))
    assert cli(["dash", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and said in err
