"""Janus and Chameleon directories end to end: `standin`, `tune`, `from_pretrained` of the
tuning, `compare` with every suite and the dashboard, each model operation checked against the
model's own Hugging Face code path (Emu3's own checks: tests/test_emu3.py)."""

from __future__ import annotations

import json
import shutil

import dash
import numpy as np
import pytest
import torch
from conftest import REFUSED_INSTALLS
from helpers_train import single_thread
from PIL import Image
from safetensors.torch import load_file

from sgt_probe.capture.bridge import boot, pattern_name, resid_name
from sgt_probe.cli import main
from sgt_probe.data import DataSpec
from sgt_probe.model.sequences import ROLE_IMAGE, collate
from sgt_probe.report.format import key_attn, key_generations, load_report
from sgt_probe.report.schema import SUITES
from sgt_probe.sources.hfdir import CHAMELEON_DECODER, SIDECAR
from sgt_probe.sources.open import open_sources, source_class

SHAPES = DataSpec()
KINDS = ["janus", "chameleon"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """standin(kind, seed) written by the CLI once per module, and kind's seed-0 tuning."""
    root = tmp_path_factory.mktemp("unified")
    cache = {}

    def get(kind: str, what: str = "a"):
        if (kind, what) not in cache:
            out = root / f"{kind}-{what}"
            with single_thread():
                if what == "sgt":
                    argv = ["tune", str(get(kind)), "--proxy", "segmentation", "--world",
                            "shapes", "--out", str(out), "--device", "cpu", "--steps", "2",
                            "--batch-size", "4"]  # fmt: skip
                else:
                    argv = ["standin", kind, "--out", str(out), "--seed", str("ab".index(what))]
                assert main(argv) == 0
            cache[kind, what] = out
        return cache[kind, what]

    get.root = root
    return get


@pytest.fixture(scope="module", params=KINDS)
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def source(made, kind):
    [src] = open_sources([made(kind)], SHAPES)
    return src


@pytest.fixture(scope="module")
def data(source):
    world = source.world()
    return source.task_data(world, world.split("eval")[:3], ("segmentation",))


@pytest.fixture(scope="module")
def plain(made, kind):
    """The same weights, never wrapped by a bridge: the independent reference."""
    return source_class(made(kind)).model_class.from_pretrained(
        made(kind), attn_implementation="eager"
    )


@pytest.fixture(scope="module")
def report(made, kind):
    """`compare` of the stand-in and its tuning on shapes, every suite."""
    out = made.root / f"{kind}-report"
    argv = ["compare", str(made(kind)), str(made(kind, "sgt")), "--world", "shapes", "--out",
            str(out), "--n-scenes", "12", "--n-probe-scenes", "16", "--device", "cpu",
            "--batch-size", "5"]  # fmt: skip
    with single_thread():
        assert main(argv) == 0
    return out


def _prompt(kind, source, question):
    """The understanding prompt as the model's processor is given it (text with the image
    token); the processor writes no <bos>, which our items start with."""
    image = source.processor.image_token
    if kind == "janus":
        return f"<|User|>: {image}\n{question}\n\n<|Assistant|>:"
    return f"{image}{question}"  # Chameleon's processor appends its separator (chat mode)


# ---- the stand-in ----


def test_standin_seeds_draw_decoders_but_share_one_image_tokenizer(made, kind):
    a, b = (load_file(made(kind, w) / "model.safetensors") for w in "ab")
    vq = [k for k in a if k.startswith("model.vqmodel.")]
    assert vq and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in vq)
    layers = [k for k in a if ".layers." in k and k.endswith("_proj.weight") and "vision" not in k]
    assert layers and not any(torch.equal(a[k], b[k]) for k in layers)
    if kind == "chameleon":
        da, db = (load_file(made(kind, w) / CHAMELEON_DECODER) for w in "ab")
        assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da)


# ---- items: the model's own processor and image tokenizer ----


def test_an_item_is_what_the_processor_and_model_make_of_the_prompt(kind, source, data, plain):
    qa = data.scenes[0].questions[0]
    item = data.understanding(0, 0)
    text = _prompt(kind, source, qa.question)
    inputs = source.processor(images=[data.scenes[0].image], text=[text], return_tensors="pt")
    ids = [source.layout.bos] + inputs["input_ids"][0].tolist()
    # Janus keeps the placeholders (its vision encoder's features replace their embeddings);
    # Chameleon's model puts its VQ tokens in their place, as the item does
    fill = iter(source.layout.visual[torch.as_tensor(data.codes[0])].tolist())
    placeholder = source.layout.placeholder
    filled = [next(fill) if t == placeholder and kind == "chameleon" else t for t in ids]
    assert item.ids[: item.n_prefix] == filled
    batch = collate([item], *source.patch_shape)
    with torch.no_grad():
        expected = plain(input_ids=torch.tensor([ids]), pixel_values=inputs["pixel_values"]).logits
        got = source.logits(batch)[:, : item.n_prefix]
    # the same image through the item's carried pixels (Janus) or its VQ tokens (Chameleon)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    image = [t for t, r in zip(item.ids, item.roles, strict=True) if r == ROLE_IMAGE]
    assert len(image) == source.grid.n_patches


def test_generation_is_greedy_over_image_tokens_as_the_model_draws(kind, source, data, plain):
    item = data.generation(1, with_target=False)
    [codes] = source.generate_codes([item])
    drawn: list[int] = []
    with torch.no_grad():
        for _ in range(source.grid.n_patches):  # no cache: the whole sequence every step
            if kind == "janus":  # text embeddings, then the generation aligner's of each code
                emb = plain.get_input_embeddings()(torch.tensor([item.ids]))
                if drawn:
                    gen = plain.prepare_embeddings_for_image_generation(torch.tensor([drawn]))
                    emb = torch.cat([emb, gen], dim=1)
                hidden = plain.model.language_model(inputs_embeds=emb).last_hidden_state
                drawn.append(int(plain.model.generation_head(hidden[0, -1]).argmax()))
            else:  # image tokens of the shared vocabulary, from lm_head
                visual = source.layout.visual
                ids = item.ids + visual[torch.tensor(drawn, dtype=torch.long)].tolist()
                hidden = plain.model(input_ids=torch.tensor([ids])).last_hidden_state
                drawn.append(int(plain.lm_head(hidden[0, -1])[visual].argmax()))
    assert codes.tolist() == drawn


def test_decoding_is_the_models_own(kind, source, data, plain):
    codes = data.codes[:2]
    if kind == "janus":
        with torch.no_grad():
            pixels = plain.model.vqmodel.decode(torch.as_tensor(codes))
        images = source.processor.postprocess(list(pixels.float()),
                                              return_tensors="PIL.Image.Image")["pixel_values"]  # fmt: skip
        box = Image.Resampling.BOX
        expected = np.stack([np.asarray(im.convert("RGB").resize((32, 32), box)) for im in images])
        assert np.abs(source.decode(codes).astype(int) - expected).max() <= 1
    else:  # no decoder in transformers: the codes' vectors are the ones its quantizer gives
        inputs = source.processor.image_processor(images=[s.image for s in data.scenes[:2]],
                                                  return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            out = plain.model.vqmodel.encode(inputs["pixel_values"])
            g = source.grid.grid
            looked_up = source.images.vq.quantize.embedding(torch.as_tensor(codes))
        assert out.image_tokens.view(2, -1).tolist() == codes.tolist()
        torch.testing.assert_close(looked_up.view(2, g, g, -1).permute(0, 3, 1, 2),
                                   out.quantized_last_hidden_state)  # fmt: skip
        assert source.decode(codes).shape == (2, 32, 32, 3)


# ---- capture through the bridge ----


def test_bridge_logits_equal_the_hugging_face_forward(made, kind, data, plain):
    [src] = open_sources([made(kind, "b")], SHAPES)
    items = [data.understanding(i, 0) for i in range(2)] + [data.proxy("segmentation", 0)]
    before = len(REFUSED_INSTALLS)
    runner = src.runner()
    assert REFUSED_INSTALLS[before:] == []
    batch = next(runner.batches(items, 3))[2]
    logits, cache = runner.run(batch, [resid_name(1), pattern_name(2)])
    ref = source_class(made(kind, "b")).model_class.from_pretrained(
        made(kind, "b"), attn_implementation="eager"
    )
    with torch.no_grad():
        if kind == "janus":  # its input embeddings (vision features, generation aligner)
            emb = src.embed(ref, batch["input_ids"], batch["pixels"])
            out = ref(inputs_embeds=emb, output_hidden_states=True, output_attentions=True)
        else:
            out = ref(input_ids=batch["input_ids"], output_hidden_states=True,
                      output_attentions=True)  # fmt: skip
    diff = (logits - out.logits).abs().max().item()
    print(f"{kind}: bridge vs Hugging Face logits, max abs diff {diff:.2e}")
    assert diff <= 1e-4
    torch.testing.assert_close(cache[resid_name(1)], out.hidden_states[2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache[pattern_name(2)], out.attentions[2], atol=1e-5, rtol=1e-4)


def test_a_post_norm_chameleon_bridges_too(made):
    """Chameleon-30B's blocks normalize the attention and MLP outputs (swin_norm)."""
    from transformers import ChameleonConfig, ChameleonForConditionalGeneration

    [src] = open_sources([made("chameleon")], SHAPES)
    config = ChameleonConfig.from_pretrained(made("chameleon"), swin_norm=True,
                                             num_hidden_layers=2)  # fmt: skip
    torch.manual_seed(0)
    model = ChameleonForConditionalGeneration(config).eval()
    for name, p in model.named_parameters():  # per-head norms that do something
        if "_norm." in name:
            p.data.normal_(1.0, 0.3)
    model.set_attn_implementation("eager")
    ids = torch.randint(10, 400, (2, 30))
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True)
    bridge = boot(model, src.processor.tokenizer, name="swin")
    assert bridge.cfg.swin_norm
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(ids, names_filter=lambda n: n == pattern_name(1))
    assert (logits - out.logits).abs().max().item() <= 1e-4
    torch.testing.assert_close(cache[pattern_name(1)], out.attentions[1], atol=1e-5, rtol=1e-4)


# ---- tuning, compare, the dashboard ----


def test_a_tuned_directory_is_a_plain_hugging_face_model(made, kind):
    sgt = made(kind, "sgt")
    arch = source_class(sgt)
    model = arch.model_class.from_pretrained(sgt)  # no sgt-probe code involved
    assert type(model).__name__ == arch.model_class.__name__
    arch.processor_class.from_pretrained(sgt)
    meta = json.loads((sgt / SIDECAR).read_text())
    assert (meta["stage"], meta["proxy"], meta["step"]) == ("tune", "segmentation", 2)
    assert meta["data_spec"] == SHAPES.to_dict()
    base, tuned = (load_file(d / "model.safetensors") for d in (made(kind), sgt))
    for k, v in base.items():  # the VQ model is frozen
        assert torch.equal(tuned[k], v) == k.startswith("model.vqmodel."), k
    if kind == "chameleon":
        assert (sgt / CHAMELEON_DECODER).read_bytes() == (
            made(kind) / CHAMELEON_DECODER
        ).read_bytes()


def test_compare_fills_every_suite_and_the_dashboard_serves_it(report, made, kind):
    r = load_report(report)
    d = r.data
    assert d.suites == list(SUITES) and r.names == ["base", "segmentation"]
    assert (d.model.preset, d.model.grid, d.model.patch_size, d.model.n_layers) == (kind, 8, 4, 4)
    L, H = d.model.n_layers, d.model.n_heads
    for n in r.names:
        assert d.benchmarks.scores[n].understanding.overall is not None
        assert d.benchmarks.scores[n].proxy_quality["segmentation_miou"] is not None
        assert len(d.probes.targets[n]["semantic_class"].accuracy) == L
        assert np.array(d.attention.stats[n].mass["text->image"]).shape == (L, H)
        assert np.array(d.attention.stats[n].mass["generated->input"]).shape == (L, H)
        assert len(d.attention.stats[n].grounded.precision) == L
        assert len(d.knockout.curves[n].relative_change) == L
    assert len(d.cka.pairs[0].values) == L and d.embeddings.layers
    assert any(s.target_tokens for s in d.attention.explorer)
    assert r.arrays[key_attn("base")].shape[-1] == 64  # keys: the 8 x 8 image tokens
    assert r.arrays[key_generations("base")].shape == (12, 32, 32, 3)
    from sgt_probe.app.app import create_app

    client = create_app([report]).server.test_client()
    for page in dash.page_registry.values():
        assert client.get(page["path"]).status_code == 200, page["path"]


def test_eval_reads_a_tuned_directory(made, kind, capsys):
    with single_thread():
        assert main(["eval", str(made(kind, "sgt")), "--n", "2", "--device", "cpu"]) == 0
    assert "segmentation_miou" in capsys.readouterr().out


# ---- refusals: one line, exit status 2, nothing written ----


def _edit(directory, name: str, keys: tuple, value) -> None:
    """Set the field at `keys` of JSON file `name` in `directory`."""
    doc = json.loads((directory / name).read_text())
    node = doc
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    (directory / name).write_text(json.dumps(doc))


def test_the_parameter_estimate_is_within_10_percent_of_the_built_model(made, kind):
    """hfchecks' closed-form count, which the memory check uses, against the stand-in built on
    the meta device (Chameleon's with its VQ-GAN decoder, which loads beside it)."""
    from sgt_probe.sources import hfchecks
    from sgt_probe.sources.chameleon import VQGANDecoder

    d = made(kind)
    config = json.loads((d / "config.json").read_text())
    processor = json.loads((d / "processor_config.json").read_text())["image_processor"]
    sizes = hfchecks.check_settings(d, config, d / "processor_config.json", processor)
    arch = source_class(d)
    with torch.device("meta"):
        model = arch.model_class(arch.model_class.config_class(**config))
        built = sum(p.numel() for p in model.parameters())
        if kind == "chameleon":
            built += sum(p.numel() for p in VQGANDecoder(model.config.vq_config).parameters())
    assert abs(sizes.n_params - built) / built < 0.1, (sizes.n_params, built)


def test_models_of_two_architectures_do_not_compare(made, capsys):
    out = made.root / "mixed"
    assert main(["compare", str(made("janus")), str(made("chameleon")), "--world", "shapes",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert f"{made('chameleon')}: model kind 'chameleon' differs" in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "kind, damage, said",
    [
        ("janus", lambda d: (d / "config.json").write_text('{"model_type": "llama"}'),
         "model type 'llama' is not supported; sgt-probe opens Emu3ForConditionalGeneration, "
         "JanusForConditionalGeneration, ChameleonForConditionalGeneration directories"),
        ("janus", lambda d: (d / "model.safetensors").unlink(), "no safetensors weights"),
        ("janus", lambda d: (d / "tokenizer.json").unlink(), "lacks processor files"),
        ("chameleon", lambda d: (d / "processor_config.json").unlink(), "lacks processor files"),
        ("chameleon", lambda d: (d / CHAMELEON_DECODER).unlink(),
         f"lacks {CHAMELEON_DECODER}, the VQ-GAN decoder"),
        ("janus", lambda d: _edit(d, "config.json", ("vision_config", "projection_dim"), 32),
         "config.json: vision_config.projection_dim 32 but the decoder's hidden_size is 64"),
        ("janus", lambda d: _edit(d, "processor_config.json", ("image_processor", "size"),
                                  {"height": 48, "width": 48}),
         "image_processor.size 48 pixels, but the vision encoder reads 64 as 8x8 patches"),
        ("chameleon", lambda d: _edit(d, "config.json", ("vq_config", "num_embeddings"), 300),
         "config.json: vocabulary_map names 256 image tokens, not one for each of "
         "vq_config.num_embeddings 300 codes"),
        ("chameleon", lambda d: _edit(d, "config.json", ("num_hidden_layers",), 10**6),
         "config.json: num_hidden_layers must be an integer in 1..1024, got 1000000"),
    ],
)  # fmt: skip
def test_a_directory_that_is_not_a_usable_model_is_refused(made, tmp_path, capsys, kind, damage,
                                                            said):  # fmt: skip
    bad = tmp_path / "bad"
    shutil.copytree(made(kind), bad)
    damage(bad)
    out = tmp_path / "r"
    for argv in (["compare", str(made(kind)), str(bad), "--world", "shapes", "--out", str(out)],
                 ["tune", str(bad), "--proxy", "segmentation", "--world", "shapes",
                  "--out", str(out)], ["eval", str(bad), "--world", "shapes"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and str(bad) in err and "\n" not in err, argv
    assert not out.exists()
