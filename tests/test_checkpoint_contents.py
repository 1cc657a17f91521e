"""A checkpoint's contents are checked before anything is built: each kind of bad value (wrong
type, out of range, a model that does not match its tensors, a size nothing bounds, parts that
disagree) is a one-line error naming the file and the field, from the library and the CLI."""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from helpers_train import SPEC, TINY_MODEL, checkpoint_contents

from sgt_probe.checkpoint import CheckpointError, save_checkpoint
from sgt_probe.cli import main
from sgt_probe.data import make_world
from sgt_probe.model.checks import param_shapes
from sgt_probe.model.config import ModelConfig
from sgt_probe.model.loading import build_model, load_model
from sgt_probe.model.vocab import Vocab


@pytest.fixture(scope="module")
def good() -> dict:
    return checkpoint_contents()


def _set(section: str, key: str, value):
    def change(c):
        c[section][key] = value

    return change


def _top(key: str, value):
    def change(c):
        c[key] = value

    return change


def _drop_tensor(c):
    del c["state_dict"]["lm.model.layers.1.mlp.up_proj.weight"]


def _extra_tensor(c):
    c["state_dict"]["lm.model.layers.0.self_attn.q_proj.bias"] = torch.zeros(32)


def _int_tensor(c):
    c["state_dict"]["lm.model.norm.weight"] = torch.ones(32, dtype=torch.int64)


def _swap_word(c):  # same length, a word twice
    tokens = c["vocab"]["tokens"]
    tokens[20] = tokens[21]


def _drop_word(c):
    del c["vocab"]["tokens"][20]


def _scale_codebook(c):
    c["tokenizer"]["codebook"] = c["tokenizer"]["codebook"] * 300


# the tiny vocabulary's size, which the messages about embedding shapes name
V = len(Vocab.build(make_world(SPEC).words(), TINY_MODEL["n_codes"]))

# (case, change to a good checkpoint, what the one-line message must say)
BAD = [
    # types
    ("config not a dict", _top("model_config", [32, 2]), "model_config must be a dict"),
    ("layers as text", _set("model_config", "n_layers", "2"), "model_config.n_layers must be an integer"),
    ("width as float", _set("model_config", "d_model", 32.0), "model_config.d_model must be an integer"),
    ("bool as count", _set("model_config", "n_heads", True), "model_config.n_heads must be an integer"),
    ("unknown vision input", _set("model_config", "vision_input", "pixels"), "model_config.vision_input must be one of patch, vq"),
    ("unknown preset", _set("model_config", "preset", "huge"), "model_config.preset must be one of"),
    ("lr as text", _set("train_config", "lr", "fast"), "train_config.lr must be a number"),
    ("unknown world", _set("data_spec", "world", "mars"), "data_spec.world must be one of"),
    ("path not text", _set("data_spec", "path", 7), "data_spec.path must be a string"),
    ("tokens not a list", _set("vocab", "tokens", "abc"), "vocab.tokens must be a list of strings"),
    ("codebook not a tensor", _set("tokenizer", "codebook", [[0.5]]), "tokenizer.codebook must be a float tensor"),
    ("weights not tensors", _top("state_dict", {"w": [1.0]}), "state_dict must map names to tensors"),
    ("history not a list", _top("history", "none"), "history must be a list"),
    ("optimizer not a state", _top("optimizer", {"lr": 1}), "optimizer is not an optimizer state"),
    ("rng not a state", _top("rng", torch.zeros(3)), "rng is not a CPU random-generator state"),
    # ranges
    ("no heads", _set("model_config", "n_heads", 0), "model_config.n_heads must be an integer in 1..1024, got 0"),
    ("heads do not divide", _set("model_config", "n_heads", 3), "model_config.n_heads must split d_model 32"),
    ("odd head size", _set("model_config", "n_heads", 32), "model_config.n_heads must split d_model 32"),
    ("zero patch", _set("model_config", "patch_size", 0), "model_config.patch_size must be an integer in 1..1024, got 0"),
    ("negative steps", _set("train_config", "steps", -5), "train_config.steps must be an integer >= 1"),
    ("ratio above one", _set("train_config", "proxy_ratio", 5), "train_config.proxy_ratio must be a number >= 0 and <= 1"),
    ("no scenes in the fit", _set("model_config", "tokenizer_scene_repeat", 0), "model_config.tokenizer_scene_repeat must be an integer >= 1, got 0"),
    ("nan lr", _set("train_config", "lr", float("nan")), "train_config.lr must be a number > 0"),
    ("unknown proxy", _set("train_config", "proxy", "poetry"), "train_config.proxy must be one of"),
    ("negative seed", _set("data_spec", "seed", -1), "data_spec.seed must be an integer in 0.."),
    ("held out all", _set("data_spec", "eval_fraction", 1.5), "data_spec.eval_fraction must be a number > 0 and <= 1"),
    ("negative step", _top("step", -3), "step must be an integer >= 0"),
    ("unknown stage", _top("stage", "final"), "stage must be one of base, tune"),
    # the model described does not match the tensors
    ("wider model", _set("model_config", "d_model", 64), f"state_dict['lm.model.embed_tokens.weight'] is torch.float32 ({V}, 32), but model_config describes a float tensor of shape ({V}, 64)"),
    ("wider mlp", _set("model_config", "d_ff", 128), "model_config describes a float tensor of shape (128, 32)"),
    ("missing tensor", _drop_tensor, "state_dict lacks lm.model.layers.1.mlp.up_proj.weight"),
    ("unknown tensor", _extra_tensor, "state_dict holds an unknown tensor lm.model.layers.0.self_attn.q_proj.bias"),
    ("integer weights", _int_tensor, "state_dict['lm.model.norm.weight'] is torch.int64 (32,)"),
    # sizes that would allocate without bound if believed: out of range, or not the tensors'
    ("a million layers", _set("model_config", "n_layers", 1_000_000), "model_config.n_layers must be an integer in 1..1024, got 1000000"),
    ("more layers than tensors", _set("model_config", "n_layers", 3), "model_config.n_layers is 3 but the state dict holds 2 layers"),
    ("a huge width", _set("model_config", "d_model", 2**30), "model_config.d_model must be an integer in 1..65536"),
    ("a huge vocabulary", _set("model_config", "vocab_size", 10**12), "model_config.vocab_size must be an integer in 1..4194304"),
    ("huge images", _set("model_config", "image_size", 4 * 10**6), "model_config.image_size must be an integer in 4..1024"),
    ("larger images than tensors", _set("model_config", "image_size", 64), "state_dict['patch_encoder.pos']"),
    ("a huge context", _set("model_config", "max_len", 10**12), "model_config.max_len must be an integer in 1..1048576"),
    # parts that disagree
    ("data at another size", _set("data_spec", "image_size", 64), "data_spec.image_size 64 but the model reads 32px images"),
    ("vocab codes", _set("vocab", "n_codes", 32), "vocab.n_codes 32 but model_config.n_codes is 64"),
    ("vocab size", _drop_word, f"vocab.tokens holds {V - 1} tokens but model_config.vocab_size is {V}"),
    ("vocab repeats a word", _swap_word, "vocab.tokens hold a token twice"),
    ("tokenizer codes", _set("tokenizer", "n_codes", 32), "tokenizer.n_codes 32 but model_config.n_codes is 64"),
    ("tokenizer patches", _set("tokenizer", "patch_size", 2), "tokenizer.patch_size 2 but model_config.patch_size is 4"),
    ("codebook shape", _set("tokenizer", "codebook", torch.zeros(64, 12)), "tokenizer.codebook has shape (64, 12), expected (64, 48)"),
    ("codebook values", _scale_codebook, "tokenizer.codebook holds values outside 0..1"),
    ("folder without a path", _set("data_spec", "world", "folder"), "data_spec: world 'folder' needs a path"),
]  # fmt: skip


def test_the_good_checkpoint_loads(tmp_path, good):
    loaded = load_model(save_checkpoint(tmp_path / "good.pt", good))
    assert loaded.cfg.to_dict() == good["model_config"]
    assert loaded.vocab.to_dict() == good["vocab"]


@pytest.mark.parametrize("case, change, says", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_a_one_line_error_naming_the_file_and_field(
    tmp_path, good, case, change, says, capsys
):
    bad = copy.deepcopy(good)
    change(bad)
    path = save_checkpoint(tmp_path / "bad.pt", bad)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and says in msg, msg
    # and through the CLI: exit 2, the same line, nothing written
    out = tmp_path / "tuned.pt"
    assert main(["tune", str(path), "--proxy", "edge", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {msg}"
    assert not out.exists()


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, n_codes=64),
        ModelConfig(
            d_model=48,
            n_layers=3,
            n_heads=4,
            d_ff=40,
            vision_input="vq",
            image_size=24,
            patch_size=6,
        ),  # fmt: skip
    ],
)
def test_param_shapes_are_those_of_a_built_model(cfg):
    vocab = Vocab.build(["a", "b", "word"], cfg.n_codes)
    model = build_model(cfg, vocab, seed=0)
    built = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert param_shapes(replace(cfg, vocab_size=len(vocab))) == built


# The peak memory of the process image that ran the command (VmHWM starts afresh at exec: a
# child's rusage would count the pytest process it was forked from).
PEAK_PROBE = """
import json, sys
from sgt_probe.cli import main
code = main(sys.argv[1:])
peak = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps([code, int(peak.split()[1]) * 1024]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_a_million_layers_are_refused_fast_without_allocating(tmp_path, good):
    bad = copy.deepcopy(good)
    bad["model_config"]["n_layers"] = 1_000_000
    path = save_checkpoint(tmp_path / "huge.pt", bad)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", PEAK_PROBE, "eval", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def cap():  # should the check ever go, the child fails on a 2 GiB address space (importing
        # torch takes ~0.7) or on the minute, rather than taking the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    run = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=cap, timeout=60)
    seconds = time.perf_counter() - t0
    code, peak = json.loads(run.stdout)
    assert code == 2 and run.stderr.strip().endswith(
        "model_config.n_layers must be an integer in 1..1024, got 1000000"
    )
    assert "\n" not in run.stderr.strip()
    # a few seconds and the memory of importing torch; building the model would take hours and
    # exhaust memory (each of the tiny model's layers holds 36 KB of weights)
    assert seconds < 10, seconds
    assert peak < 600 * 2**20, f"peak {peak / 2**20:.0f} MB"
