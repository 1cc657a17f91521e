"""A Hugging Face Emu3 directory end to end: `standin emu3`, `tune`, `compare` and the dashboard,
each model operation checked against the model's own Hugging Face code path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import dash
import numpy as np
import pytest
import torch
from conftest import REFUSED_INSTALLS
from helpers_train import single_thread
from PIL import Image
from safetensors.torch import load_file
from transformers import Emu3ForConditionalGeneration, Emu3Processor

from sgt_probe.capture.bridge import ImageGrid, pattern_name, resid_name
from sgt_probe.cli import main
from sgt_probe.compare.run import check_comparable
from sgt_probe.data import DataSpec
from sgt_probe.model.sequences import ROLE_ANSWER, ROLE_IMAGE
from sgt_probe.report.format import key_attn, key_generations, load_report
from sgt_probe.report.schema import SUITES
from sgt_probe.sources import tuning
from sgt_probe.sources.base import ModelSource
from sgt_probe.sources.hfdir import SIDECAR
from sgt_probe.sources.open import open_sources
from sgt_probe.sources.standin import write_standin

SHAPES = DataSpec()
TINY_TUNE = ["--steps", "4", "--batch-size", "4"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """Two stand-ins (seeds 0 and 1) written by the CLI, and seed 0 tuned with segmentation."""
    root = tmp_path_factory.mktemp("emu3")
    a, b, sgt = root / "a", root / "b", root / "a-sgt"
    with single_thread():
        assert main(["standin", "emu3", "--out", str(a), "--seed", "0"]) == 0
        assert main(["standin", "emu3", "--out", str(b), "--seed", "1"]) == 0
        assert main(["tune", str(a), "--proxy", "segmentation", "--world", "shapes",
                     "--out", str(sgt), "--device", "cpu", *TINY_TUNE]) == 0  # fmt: skip
    return {"a": a, "b": b, "sgt": sgt, "root": root}


@pytest.fixture(scope="module")
def report(dirs):
    """`compare` of the stand-in and its tuning on shapes, every suite."""
    out = dirs["root"] / "report"
    argv = ["compare", str(dirs["a"]), str(dirs["sgt"]), "--world", "shapes", "--out", str(out),
            "--n-scenes", "12", "--n-probe-scenes", "16", "--device", "cpu",
            "--batch-size", "5"]  # fmt: skip
    with single_thread():
        assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def source(dirs):
    [src] = open_sources([dirs["a"]], SHAPES)
    return src


@pytest.fixture(scope="module")
def data(source):
    world = source.world()
    return source.task_data(world, world.split("eval")[:4], ("segmentation",))


@pytest.fixture
def plain(dirs):
    """The same weights, never wrapped by a bridge: the independent reference."""
    return Emu3ForConditionalGeneration.from_pretrained(dirs["a"], attn_implementation="eager")


# ---- the stand-in ----


def test_standin_seeds_draw_decoders_but_share_one_vision_tokenizer(dirs, tmp_path):
    a, b = (load_file(dirs[k] / "model.safetensors") for k in ("a", "b"))
    vq = [k for k in a if k.startswith("vqmodel.")]
    text = [k for k in a if k not in vq]
    assert vq and text and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in vq)
    assert not any(torch.equal(a[k], b[k]) for k in text if a[k].dim() == 2)
    again = write_standin(tmp_path / "again", seed=0)  # deterministic: same seed, same files
    assert all(torch.equal(v, load_file(again / "model.safetensors")[k]) for k, v in a.items())
    assert (again / "tokenizer.json").read_text() == (dirs["a"] / "tokenizer.json").read_text()


def test_standin_refuses_to_write_into_a_non_empty_folder(dirs, capsys):
    before = (dirs["a"] / "config.json").read_text()
    assert main(["standin", "emu3", "--out", str(dirs["a"])]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {dirs['a']} exists and is not empty; choose another --out"
    )
    assert (dirs["a"] / "config.json").read_text() == before


def test_both_model_kinds_are_model_sources(source, tmp_path_factory):
    from helpers_train import shared_base

    [ckpt] = open_sources([shared_base(tmp_path_factory)])
    assert isinstance(source, ModelSource) and isinstance(ckpt, ModelSource)


# ---- items: the model's own processor and VQ-VAE ----


def test_an_item_is_what_the_processor_and_model_make_of_the_prompt(source, data, plain):
    qa = data.scenes[0].questions[0]
    item = data.understanding(0, 0)
    processor = Emu3Processor.from_pretrained(source.path)
    text = f"USER: {processor.image_token}{qa.question} ASSISTANT:"
    inputs = processor(images=[data.scenes[0].image], text=[text], return_tensors="pt")
    # the processor's placeholders become the VQ-VAE's tokens inside the model's own forward
    with torch.no_grad():
        expected = plain(**inputs).logits[0]
        got = plain(input_ids=torch.tensor([item.ids[: item.n_prefix]])).logits[0]
    assert len(item.ids[: item.n_prefix]) == inputs["input_ids"].shape[1]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    image = [t for t, r in zip(item.ids, item.roles, strict=True) if r == ROLE_IMAGE]
    assert image == source.layout.visual[torch.as_tensor(data.codes[0])].tolist()
    answer = [t for t, r in zip(item.ids, item.roles, strict=True) if r == ROLE_ANSWER]
    assert processor.tokenizer.decode(answer) == " " + qa.answer


def test_the_token_grid_covers_whole_world_pixels(dirs, capsys):
    [src] = open_sources([dirs["a"]], DataSpec(image_size=48))
    assert src.grid == ImageGrid(grid=8, patch_size=6)  # 48 px -> 64 px -> 8 x 8 codes
    assert main(["compare", str(dirs["a"]), str(dirs["b"]), "--world", "shapes",
                 "--image-size", "20", "--out", str(dirs["root"] / "r20")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {dirs['a']}: reads a 20-pixel image as a 8x8 token grid")
    assert err.endswith("a multiple of 8 (--image-size 24)") and "\n" not in err
    assert not (dirs["root"] / "r20").exists()


# ---- scoring, drawing, decoding ----


def test_choice_probabilities_are_products_of_token_probabilities(source, data, plain):
    qa = data.scenes[1].questions[0]
    item = data.understanding(1, 0)
    choices = [qa.choices, ("two", "circle triangle")]  # the second: several tokens a choice
    p_answer, p_choices = source.answer_probs([item, item], choices)
    prefix = item.ids[: item.n_prefix]
    for k, options in enumerate(choices):
        for j, choice in enumerate(options):
            cont = source.layout.text(" " + choice)
            with torch.no_grad():
                logp = plain(input_ids=torch.tensor([prefix + cont])).logits[0].log_softmax(-1)
            want = sum(float(logp[len(prefix) - 1 + t, c]) for t, c in enumerate(cont))
            assert p_choices[k][j] == pytest.approx(np.exp(want), rel=1e-4)
    assert p_answer[0] == pytest.approx(p_choices[0][qa.choices.index(qa.answer)], rel=1e-6)


def test_generation_is_greedy_over_visual_tokens_row_by_row(source, data, plain):
    item = data.generation(2, with_target=False)
    [codes] = source.generate_codes([item])
    ids, visual, grid = list(item.ids), source.layout.visual, source.grid.grid
    expected = []
    with torch.no_grad():
        for p in range(grid * grid):  # no cache: the whole sequence every step
            logits = plain(input_ids=torch.tensor([ids])).logits[0, -1]
            expected.append(int(logits[visual].argmax()))
            ids.append(int(visual[expected[-1]]))
            if (p + 1) % grid == 0:
                ids.append(source.layout.eol)
    assert codes.tolist() == expected


def test_decoding_is_the_models_own_through_its_processor(source, data, plain):
    codes = data.codes[:2]
    tokens = torch.stack([torch.tensor(source.layout.rows(c) + [0, 0, 0]) for c in codes])
    with torch.no_grad():
        pixels = plain.model.decode_image_tokens(image_tokens=tokens, height=8, width=8)
    processor = Emu3Processor.from_pretrained(source.path)
    images = processor.postprocess(list(pixels.float()), return_tensors="PIL.Image.Image")
    box = Image.Resampling.BOX
    expected = np.stack([np.asarray(im.resize((32, 32), box)) for im in images["pixel_values"]])
    # the same decoder and processor; the test's path feeds the tokens through
    # decode_image_tokens, whose float reduction order can round a value at .5 the other way
    # (1 channel of 6,144 differed by 1 on the current worlds' scenes)
    diff = np.abs(source.decode(codes).astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


# ---- capture through the bridge ----


def test_capture_matches_the_plain_model_and_installs_nothing(dirs, plain):
    [src] = open_sources([dirs["b"]], SHAPES)
    world = src.world()
    data = src.task_data(world, world.split("probe")[:3])
    items = [data.understanding(i, 0) for i in range(3)]
    codes = src.generate_codes([data.generation(0, with_target=False)])  # before booting
    before = len(REFUSED_INSTALLS)
    runner = src.runner()
    assert REFUSED_INSTALLS[before:] == []
    batch = next(runner.batches(items, 3))[2]
    logits, cache = runner.run(batch, [resid_name(1), pattern_name(2)])
    reference = Emu3ForConditionalGeneration.from_pretrained(dirs["b"], attn_implementation="eager")
    with torch.no_grad():
        out = reference(input_ids=batch["input_ids"], output_hidden_states=True,
                        output_attentions=True)  # fmt: skip
    torch.testing.assert_close(logits, out.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache[resid_name(1)], out.hidden_states[2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache[pattern_name(2)], out.attentions[2], atol=1e-5, rtol=1e-4)
    assert codes.shape == (1, 64)
    with pytest.raises(RuntimeError, match="generate first"):
        src.generate_codes([data.generation(0, with_target=False)])


# ---- tuning ----


def test_a_tuned_directory_is_a_plain_hugging_face_model(dirs):
    sgt = dirs["sgt"]
    model = Emu3ForConditionalGeneration.from_pretrained(sgt)  # no sgt-probe code involved
    assert type(model).__name__ == "Emu3ForConditionalGeneration"
    Emu3Processor.from_pretrained(sgt)
    meta = json.loads((sgt / SIDECAR).read_text())
    assert (meta["stage"], meta["proxy"], meta["step"]) == ("tune", "segmentation", 4)
    assert meta["data_spec"] == SHAPES.to_dict() and len(meta["history"]) == 4
    assert {"loss/segmentation", "loss/understanding"} <= set().union(*meta["history"])
    state = torch.load(sgt / tuning.STATE, weights_only=True)
    assert {"optimizer", "rng", "adapter"} <= set(state)
    base, tuned = (load_file(d / "model.safetensors") for d in (dirs["a"], sgt))
    for k, v in base.items():  # the VQ-VAE is frozen, with its batch-norm statistics
        assert torch.equal(tuned[k], v) == k.startswith("vqmodel."), k


def _interrupted(monkeypatch, after: int):
    """Stop a tuning right after its checkpoint at step `after`, as a kill would."""
    real = tuning.saver

    def saver(source, lora):
        save = real(source, lora)

        def save_then_die(out, contents):
            save(out, contents)
            if contents["step"] == after:
                raise KeyboardInterrupt

        return save_then_die

    monkeypatch.setattr(tuning, "saver", saver)


@pytest.mark.parametrize("lora", [False, True])
def test_a_stopped_tuning_resumes_to_the_weights_of_an_uninterrupted_one(dirs, tmp_path, lora,
                                                                         monkeypatch):  # fmt: skip
    run = {"steps": 4, "batch_size": 4, "ckpt_every": 2}
    ref, stopped = tmp_path / "ref", tmp_path / "stopped"
    with single_thread():
        tuning.tune_dir(dirs["a"], "segmentation", ref, SHAPES, run, lora=lora, device="cpu",
                        progress=False)  # fmt: skip
        with monkeypatch.context() as m:
            _interrupted(m, after=2)
            with pytest.raises(KeyboardInterrupt):
                tuning.tune_dir(dirs["a"], "segmentation", stopped, SHAPES, run, lora=lora,
                                device="cpu", progress=False)  # fmt: skip
        assert json.loads((stopped / SIDECAR).read_text())["step"] == 2
        tuning.tune_dir(dirs["a"], "segmentation", stopped, SHAPES, run, lora=lora,
                        resume=True, device="cpu", progress=False)  # fmt: skip
    want, got = (load_file(d / "model.safetensors") for d in (ref, stopped))
    assert want.keys() == got.keys()
    assert all(torch.equal(got[k], v) for k, v in want.items())
    base = load_file(dirs["a"] / "model.safetensors")
    assert not all(torch.equal(base[k], v) for k, v in want.items())  # it did train


def test_lora_weights_merge_as_peft_merges_them(dirs):
    model = Emu3ForConditionalGeneration.from_pretrained(dirs["a"])
    peft_model = tuning.with_lora(model, tuning.LORA)
    torch.manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the adapters something to add
            p.data.normal_(std=0.1)
    state = tuning.Trainable(peft_model).state_dict()
    merged = tuning.plain_state_dict(state, tuning.LORA)
    expected = peft_model.merge_and_unload().state_dict()
    assert merged.keys() == expected.keys()
    for k, v in expected.items():
        torch.testing.assert_close(merged[k], v, atol=1e-6, rtol=1e-5, msg=k)


def test_tuning_the_whole_model_needs_no_peft(dirs, tmp_path):
    # peft is for --lora only: a fresh interpreter where it cannot be imported still tunes
    argv = ["tune", str(dirs["a"]), "--proxy", "segmentation", "--world", "shapes", "--out",
            str(tmp_path / "t"), "--device", "cpu", "--steps", "1", "--batch-size", "2"]  # fmt: skip
    code = (f"import sys; sys.modules['peft'] = None; import torch; torch.set_num_threads(1); "
            f"from sgt_probe.cli import main; sys.exit(main({argv!r}))")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert json.loads((tmp_path / "t" / SIDECAR).read_text())["step"] == 1


# ---- compare and the dashboard ----


def test_compare_fills_every_suite_for_the_tuned_pair(report, dirs):
    r = load_report(report)
    d = r.data
    assert d.suites == list(SUITES) and r.names == ["base", "segmentation"]
    assert (d.model.preset, d.model.grid, d.model.patch_size, d.model.n_layers) == ("emu3", 8, 4, 4)
    assert [c.path for c in d.checkpoints] == [str(dirs["a"]), str(dirs["sgt"])]
    assert d.compare_config["batch_size"] == 5  # hooked forwards of 5 sequences
    L, H = d.model.n_layers, d.model.n_heads
    for n in r.names:
        assert d.benchmarks.scores[n].understanding.overall is not None
        assert d.benchmarks.scores[n].proxy_quality["segmentation_miou"] is not None
        assert len(d.benchmarks.generations.verdicts[n]) == 12
        assert len(d.probes.targets[n]["semantic_class"].accuracy) == L
        assert np.array(d.attention.stats[n].mass["text->image"]).shape == (L, H)
        assert len(d.attention.stats[n].grounded.precision) == L
        assert len(d.knockout.curves[n].relative_change) == L
    assert len(d.cka.pairs[0].values) == L and d.embeddings.layers
    # one tokenizer reads and draws: no two paths to align, said so; the lens on both paths
    assert "reads an image as the very VQ tokens it draws" in d.skipped["cross-path alignment"]
    for n in r.names:
        a = d.alignment.checkpoints[n]
        assert a.cka is None and a.transfer is None
        assert set(a.lens) == {"semantic_class", "color"}  # the stand-in's words: one token each
        for lens in a.lens.values():
            assert len(lens.read.value) == len(lens.draw.value) == L
    explorer = d.attention.explorer
    assert all(s.tokens[-2:] == ["ASSISTANT", ":"] for s in explorer)  # Emu3's cue, in pieces
    named = [[s.tokens[i] for i in s.target_tokens] for s in explorer]
    assert any(named)
    assert all(
        set(words) <= set(s.question.split()) for words, s in zip(named, explorer, strict=True)
    )
    assert r.arrays[key_attn("base")].shape[-1] == 64  # keys: the 8 x 8 image tokens
    assert r.arrays[key_generations("base")].shape == (12, 32, 32, 3)


def test_the_dashboard_serves_the_emu3_report(report):
    from sgt_probe.app.app import create_app

    client = create_app([report]).server.test_client()
    assert client.get("/").status_code == 200
    for page in dash.page_registry.values():
        assert client.get(page["path"]).status_code == 200, page["path"]


def test_every_dashboard_page_renders_the_emu3_report(report):
    from test_app_data import _call, _serve

    from sgt_probe.app import ids

    client, key = _serve([report]), {ids.REPORT: str(report)}
    overview = _call(client, ids.OV_NOTE, key)
    assert overview[ids.OV_NOTE]["children"] == "" and overview[ids.OV_SCORES]["figure"]["data"]
    pages = {}
    for note, extra in [(ids.SEP_NOTE, {ids.SEP_TARGET: "semantic_class"}), (ids.ATT_NOTE, {}),
                        (ids.KO_NOTE, {}), (ids.GEN_NOTE, {}), (ids.EMB_NOTE, {}),
                        (ids.ALN_NOTE, {})]:  # fmt: skip
        pages[note] = _call(client, note, key | extra)
        # no note saying a suite is missing (the probes page's note is the metric's hint)
        children = pages[note][note]["children"]
        hint = isinstance(children, dict) and children["props"].get("className") == "hint"
        assert children == "" or hint, note
    assert pages[ids.SEP_NOTE][ids.SEP_ACCURACY]["figure"]["data"]
    assert pages[ids.KO_NOTE][ids.KO_CHANGE]["figure"]["data"]
    values = key | {ids.ATT_SAMPLE: 0, ids.ATT_TOKEN: 1, ids.ATT_HEAD: -1, ids.ATT_LAYER: 2,
                    ids.ATT_CHECKPOINTS: ["base", "segmentation"], ids.ATT_PATCH: 10}  # fmt: skip
    overlay = _call(client, ids.ATT_OVERLAY, values)[ids.ATT_OVERLAY]["figure"]
    heatmaps = [t for t in overlay["data"] if t["type"] == "heatmap"]
    z = heatmaps[0]["z"]  # plotly sends an array as {"bdata", "dtype", "shape"}, or as lists
    shape = tuple(int(n) for n in z["shape"].split(",")) if isinstance(z, dict) else np.shape(z)
    assert len(heatmaps) == 2 and shape == (8, 8)  # the 8 x 8 token grid


def test_two_seeds_of_the_standin_are_comparable(dirs):
    sources = open_sources([dirs["a"], dirs["b"]], SHAPES)
    check_comparable(sources)  # one vision tokenizer: the same scene, the same tokens
    assert [s.seed for s in sources] == [0, 1]


def test_eval_reads_a_model_directory(dirs, capsys):
    with single_thread():
        assert main(["eval", str(dirs["sgt"]), "--n", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "understanding" in out and "segmentation_miou" in out


# ---- refusals: one line, exit status 2, nothing written ----


@pytest.mark.parametrize(
    "damage, said",
    [
        (lambda d: (d / "config.json").unlink(), "not a model directory (no config.json)"),
        (lambda d: (d / "config.json").write_text('{"model_type": "llama"}'),
         "model type 'llama' is not supported; sgt-probe opens Emu3ForConditionalGeneration"),
        (lambda d: (d / "model.safetensors").unlink(), "no safetensors weights"),
        (lambda d: (d / "tokenizer.json").unlink(), "lacks processor files"),
        (lambda d: (d / "processor_config.json").unlink(), "lacks processor files"),
        (lambda d: (d / SIDECAR).write_text("[1, 2"), "not readable JSON"),
    ],
)  # fmt: skip
def test_a_directory_that_is_not_a_usable_model_is_refused(dirs, tmp_path, capsys, damage,
                                                            said):  # fmt: skip
    bad = tmp_path / "bad"
    shutil.copytree(dirs["a"], bad)
    damage(bad)
    out = tmp_path / "r"
    for argv in (["compare", str(dirs["a"]), str(bad), "--world", "shapes", "--out", str(out)],
                 ["tune", str(bad), "--proxy", "segmentation", "--world", "shapes",
                  "--out", str(out)], ["eval", str(bad), "--world", "shapes"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and str(bad) in err and "\n" not in err, argv
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, said",
    [
        (["compare", "{a}", "{sgt}", "--out", "{out}", "--world", "digits"],
         "{sgt}: trained on world"),
        (["compare", "{a}", "{b}", "--out", "{out}"], "names no scene world; pass --world"),
        (["compare", "{a}", "{b}", "--out", "{out}", "--path", "{a}"],
         "--path and --image-size go with --world"),
        (["tune", "{a}", "--proxy", "depth", "--out", "{out}"], "pass --world"),
        (["tune", "{sgt}", "--proxy", "depth", "--world", "shapes", "--out", "{out}"],
         "{sgt}: is a tuned model directory; tune a base"),
        (["tune", "{a}", "--proxy", "depth", "--world", "shapes", "--out", "{sgt}"],
         "{sgt} exists; pass --resume"),
        (["tune", "{a}", "--proxy", "depth", "--world", "shapes", "--out", "{a}/config.json"],
         "is a file, not a folder"),
    ],
)  # fmt: skip
def test_commands_refuse_bad_model_options_in_one_line(dirs, tmp_path, capsys, argv, said):
    names = {k: str(v) for k, v in dirs.items()} | {"out": str(tmp_path / "out")}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert said.format(**names) in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_and_a_model_directory_do_not_compare(dirs, tmp_path_factory, capsys):
    from helpers_train import shared_base

    base = shared_base(tmp_path_factory)
    out = dirs["root"] / "mixed"
    assert main(["compare", str(base), str(dirs["a"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{dirs['a']}: model kind 'emu3' differs from {base}'s 'tiny'" in err
    assert not out.exists()


def test_damaged_weights_are_one_line_when_loading(dirs, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(dirs["a"], bad)
    weights = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    assert main(["eval", str(bad), "--world", "shapes", "--n", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: cannot be loaded (") and "\n" not in err
