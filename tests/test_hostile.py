"""The hostile cases, in one place: what a careless or hostile user can hand sgt-probe, and what
each must get. Every case ends in exit status != 0 with one line naming the file and field, or
the option, before anything is built or any work starts (the slow ones are also timed and
their peak memory read), and nothing already written is lost.

- model directories: a copied Emu3 stand-in with one setting changed (layers, heads, codebook,
  pixel budget, vocabulary map, a size beyond the machine's memory, ...)
- non-finite weights, in a checkpoint and in a model directory
- options that passed the parser but failed late (probe scenes vs folds, counts of scenes and
  batch items vs the machine's memory, jobs vs cores)
- interrupts: SIGINT and SIGTERM on tune and compare, started as a subprocess
- reports: numbers written as strings, a pickled array in arrays.npz
- any bytes as a checkpoint: a seeded fuzzer over random bytes, truncations, byte flips,
  mutated torch zips, raw pickles and small text files
"""

from __future__ import annotations

import inspect
import io
import json
import os
import pickle
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_report import write_synthetic_report
from helpers_train import checkpoint_contents, single_thread
from safetensors.torch import load_file, save_file

from sgt_probe.checkpoint import CheckpointError, save_checkpoint
from sgt_probe.cli import main
from sgt_probe.model.limits import Fields, check_weights, machine_memory
from sgt_probe.model.loading import read_checkpoint
from sgt_probe.report.format import ARRAYS_NPZ, REPORT_JSON, ReportError, load_report
from sgt_probe.sources import hfchecks
from sgt_probe.sources.hfdir import SUPPORTED

ROOT = Path(__file__).resolve().parent.parent


def one_line(capsys, code: int, status: int = 2) -> str:
    err = capsys.readouterr().err
    assert code == status, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    from sgt_probe.sources.standin import write_standin

    with single_thread():
        return write_standin(tmp_path_factory.mktemp("hostile") / "emu3", seed=0)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny base checkpoint, built directly (not trained): what the commands read."""
    return save_checkpoint(tmp_path_factory.mktemp("hostile") / "base.pt", checkpoint_contents())


# The CPU time and peak memory of the process image that ran the command (VmHWM starts afresh at
# exec: a child's rusage would count the pytest process it was forked from). CPU time, not wall
# time: on a machine shared with training runs a child can wait minutes for a core.
PEAK_PROBE = """
import json, resource, sys
from sgt_probe.cli import main
code = main(sys.argv[1:])
peak = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
used = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps([code, used.ru_utime + used.ru_stime, int(peak.split()[1]) * 1024]))
"""
SECONDS, PEAK = 20, 3 << 30  # what every hostile case must stay within


def measured(argv: list[str]) -> tuple[int, str, float, int]:
    """(exit status, stderr, CPU seconds, peak bytes) of `sgt-probe ARGV` in a fresh
    interpreter, its address space capped so that a check that went missing fails the test,
    not the machine."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    run = subprocess.run([sys.executable, "-c", PEAK_PROBE, *argv], capture_output=True,
                         text=True, preexec_fn=cap, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    code, seconds, peak = json.loads(run.stdout.strip().splitlines()[-1])
    return code, run.stderr.strip(), seconds, peak


# ---- model directories ----


def _set(file: str, *keys_value):
    *keys, value = keys_value

    def change(d: Path):
        doc = json.loads((d / file).read_text())
        node = doc
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        (d / file).write_text(json.dumps(doc))

    return change


def _vocabulary(name: str, value):
    return _set("config.json", "vocabulary_map", name, value)


def _drop_visual_token(d: Path):
    doc = json.loads((d / "config.json").read_text())
    del doc["vocabulary_map"]["<|visual token 000007|>"]
    (d / "config.json").write_text(json.dumps(doc))


# (case, change to the stand-in's files, what the one line must say)
BAD_DIRS = [
    # the issue's cases: a hang, a traceback, 78 s and 16 GB, the OOM killer at 23 GB
    ("a million layers", _set("config.json", "text_config", "num_hidden_layers", 10**6),
     "config.json: text_config.num_hidden_layers must be an integer in 1..1024, got 1000000"),
    ("no heads", _set("config.json", "text_config", "num_attention_heads", 0),
     "config.json: text_config.num_attention_heads must be an integer in 1..1024, got 0"),
    ("a billion codes", _set("config.json", "vq_config", "codebook_size", 10**9),
     "config.json: vq_config.codebook_size must be an integer in 2..1048576"),
    ("a pixel budget of 10^12", _set("processor_config.json", "image_processor", "min_pixels", 10**12),
     "processor_config.json: image_processor.min_pixels must be an integer in 1..16777216"),
    # and their neighbours
    ("max pixels of 10^12", _set("processor_config.json", "image_processor", "max_pixels", 10**12),
     "image_processor.max_pixels must be an integer in 4096..16777216"),
    ("max below min pixels", _set("processor_config.json", "image_processor", "max_pixels", 64),
     "image_processor.max_pixels must be an integer in 4096..16777216, got 64"),
    ("pixels in size", _set("processor_config.json", "image_processor", "size", "min_pixels", 10**12),
     "image_processor.size.min_pixels must be an integer in 1..16777216"),
    ("layers as text", _set("config.json", "text_config", "num_hidden_layers", "4"),
     "text_config.num_hidden_layers must be an integer in 1..1024, got '4'"),
    ("heads do not split the width", _set("config.json", "text_config", "num_attention_heads", 3),
     "text_config.num_attention_heads must split hidden_size 64 into heads of an even size"),
    ("kv heads do not divide", _set("config.json", "text_config", "num_key_value_heads", 3),
     "text_config.num_key_value_heads 3 does not divide num_attention_heads 4"),
    ("a huge vocabulary", _set("config.json", "text_config", "vocab_size", 10**12),
     "text_config.vocab_size must be an integer in 1..4194304"),
    ("a huge MLP", _set("config.json", "text_config", "intermediate_size", 10**9),
     "text_config.intermediate_size must be an integer in 1..262144"),
    ("a huge context", _set("config.json", "text_config", "max_position_embeddings", 10**12),
     "text_config.max_position_embeddings must be an integer in 1..1048576"),
    ("a context shorter than an image", _set("config.json", "text_config", "max_position_embeddings", 64),
     "image_processor.min_pixels makes a world image 76 tokens, more than text_config.max_position_embeddings 64"),
    ("channels the norms cannot group", _set("config.json", "vq_config", "base_channels", 48),
     "vq_config.base_channels 48 times channel_multiplier [1, 1, 1, 1] must give channel counts that are multiples of 32"),
    ("a hundred VQ-VAE levels", _set("config.json", "vq_config", "channel_multiplier", [1] * 100),
     "vq_config.channel_multiplier must be a list of 1 to 8 integers in 1..64"),
    ("an attention width that is no level's", _set("config.json", "vq_config", "hidden_size", 64),
     "vq_config.hidden_size 64 but the VQ-VAE's deepest level has 32 channels"),
    ("a temporal factor of 3", _set("config.json", "vq_config", "temporal_downsample_factor", 3),
     "vq_config.temporal_downsample_factor 3 is not a power of two"),
    ("a processor of another downsampling", _set("processor_config.json", "image_processor", "spatial_factor", 16),
     "image_processor.spatial_factor 16 but the VQ-VAE downsamples by 8"),
    ("a NaN mean", _set("processor_config.json", "image_processor", "image_mean", [0.5, float("nan"), 0.5]),
     "image_processor.image_mean must be three finite numbers"),
    ("a token id of 10^12", _vocabulary("<|visual token 000003|>", 10**12),
     "vocabulary_map maps '<|visual token 000003|>' to 1000000000000, not an id below text_config.vocab_size 827"),
    ("a code without its token", _drop_visual_token,
     "vocabulary_map names 255 visual tokens, not one for each of vq_config.codebook_size 256 codes"),
    ("no end-of-row token", lambda d: _delete_token(d, "<|extra_200|>"), "vocabulary_map lacks '<|extra_200|>'"),
    # in range each, but together beyond any machine's memory
    ("16 trillion parameters", lambda d: [
        _set("config.json", "text_config", "hidden_size", 32768)(d),
        _set("config.json", "text_config", "intermediate_size", 131072)(d),
        _set("config.json", "text_config", "num_hidden_layers", 1024)(d)],
     "parameters would need about"),
    # the model record of a tuning: the world it is read on
    ("a record asking for a million-pixel scene", _set("sgt_probe.json", "data_spec", {"world": "shapes", "image_size": 10**6}),
     "sgt_probe.json: data_spec: image_size must be a multiple of 4 in 16..1024, got 1000000"),
]  # fmt: skip


def _delete_token(d: Path, token: str):
    doc = json.loads((d / "config.json").read_text())
    del doc["vocabulary_map"][token]
    (d / "config.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("case, change, says", BAD_DIRS, ids=[b[0] for b in BAD_DIRS])
def test_a_bad_model_directory_is_refused_before_it_is_built(standin, tmp_path, capsys, case,
                                                              change, says):  # fmt: skip
    bad = tmp_path / "bad"
    shutil.copytree(standin, bad)
    change(bad)
    out = tmp_path / "out"
    for argv in (["eval", str(bad), "--world", "shapes"],
                 ["compare", str(standin), str(bad), "--world", "shapes", "--out", str(out)],
                 ["tune", str(bad), "--proxy", "edge", "--world", "shapes", "--out", str(out)]):  # fmt: skip
        line = one_line(capsys, main(argv))
        assert says in line and str(bad) in line, line
    assert not out.exists()


# the four the issue measured, each in a fresh interpreter: time and peak memory
ISSUE_DIRS = [b for b in BAD_DIRS if b[0] in ("a million layers", "no heads", "a billion codes",
                                                "a pixel budget of 10^12")]  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("case, change, says", ISSUE_DIRS, ids=[b[0] for b in ISSUE_DIRS])
def test_a_bad_model_directory_is_refused_fast_in_bounded_memory(standin, tmp_path, case, change,
                                                                 says):  # fmt: skip
    bad = tmp_path / "bad"
    shutil.copytree(standin, bad)
    change(bad)
    code, err, seconds, peak = measured(["eval", str(bad), "--world", "shapes"])
    assert code == 2 and says in err and "\n" not in err, err
    assert seconds < SECONDS and peak < PEAK, (seconds, peak)


def test_every_supported_architecture_has_its_rule():
    assert set(SUPPORTED) <= set(hfchecks.ARCHITECTURES)


def test_the_emu3_defaults_are_transformers_own():
    from transformers import Emu3ImageProcessor, Emu3TextConfig, Emu3VQVAEConfig

    for defaults, cls in (
        (hfchecks.EMU3_TEXT, Emu3TextConfig),
        (hfchecks.EMU3_VQ, Emu3VQVAEConfig),
    ):
        for key, value in defaults.items():
            theirs = getattr(cls, key)
            assert (list(theirs) if isinstance(theirs, tuple) else theirs) == value, key
    params = inspect.signature(Emu3ImageProcessor.__init__).parameters
    assert {k: params[k].default for k in hfchecks.EMU3_IMAGES} == hfchecks.EMU3_IMAGES


@pytest.mark.parametrize("vq", [{}, {"base_channels": 64, "channel_multiplier": [1, 2, 4],
                                     "num_res_blocks": 1, "hidden_size": 256}])  # fmt: skip
def test_the_parameter_estimate_is_within_10_percent_of_the_built_model(standin, vq):
    """The closed-form count the memory check uses, against the stand-in (vq {}) and one with
    another VQ-VAE, both built on the meta device (no memory)."""
    from transformers import Emu3Config, Emu3ForConditionalGeneration

    config = json.loads((standin / "config.json").read_text())
    config["vq_config"].update(vq)
    factor = 2 ** (len(config["vq_config"]["channel_multiplier"]) - 1)
    processor = {"min_pixels": 4096, "max_pixels": 4096, "spatial_factor": factor}
    sizes = hfchecks.check_settings(standin, config, standin / "preprocessor_config.json",
                                    processor)  # fmt: skip
    with torch.device("meta"):
        model = Emu3ForConditionalGeneration(Emu3Config(**config))
    built = sum(p.numel() for p in model.parameters())
    assert abs(sizes.n_params - built) / built < 0.1, (sizes.n_params, built)


# ---- non-finite weights ----


def test_a_checkpoint_with_an_infinite_embedding_is_refused_by_every_command(base, tmp_path,
                                                                             capsys):  # fmt: skip
    contents = checkpoint_contents()
    contents["state_dict"]["lm.model.embed_tokens.weight"].fill_(float("inf"))
    bad = save_checkpoint(tmp_path / "inf.pt", contents)
    says = f"{bad}: state_dict['lm.model.embed_tokens.weight'] holds non-finite values (inf or NaN)"
    out = tmp_path / "out"
    for argv in (["eval", str(bad)], ["compare", str(base), str(bad), "--out", str(out)],
                 ["tune", str(bad), "--proxy", "edge", "--out", str(out)],
                 ["export", str(bad), "--out", str(out)]):  # fmt: skip
        assert one_line(capsys, main(argv)) == f"error: {says}"
    assert not out.exists()


def test_a_model_directory_with_a_nan_weight_is_refused_naming_it(standin, tmp_path, capsys):
    bad = tmp_path / "nan"
    shutil.copytree(standin, bad)
    weights = load_file(bad / "model.safetensors")
    name = next(k for k in weights if k.endswith("layers.1.mlp.up_proj.weight"))
    weights[name][3, 5] = float("nan")
    save_file(weights, bad / "model.safetensors", metadata={"format": "pt"})
    line = one_line(capsys, main(["eval", str(bad), "--world", "shapes", "--n", "2"]))
    assert line.startswith(f"error: {bad}: weight ") and "layers.1.mlp.up_proj.weight" in line
    assert line.endswith("holds non-finite values (inf or NaN)")


# ---- options that passed the parser and failed late ----

BILLION = str(10**9)
# (argv with {base} for a checkpoint and {out} for a fresh path, what the line must name and say)
BAD_OPTIONS = [
    ("compare {base} {base} --suites probes --n-probe-scenes 2 --out {out}",
     "'--n-probe-scenes': 2 is too few for the probes"),
    ("compare {base} {base} --n-scenes " + BILLION + " --out {out}",
     "'--n-scenes': 1,000,000,000 scenes of 32 pixels would need about"),
    ("compare {base} {base} --n-probe-scenes " + BILLION + " --suites cka --out {out}",
     "'--n-probe-scenes': 1,000,000,000 scenes"),
    ("compare {base} {base} --batch-size " + BILLION + " --out {out}", "'--batch-size'"),
    ("eval {base} --n " + BILLION, "'--n': 1,000,000,000 scenes of 32 pixels would need about"),
    ("tune {base} --proxy edge --batch-size " + BILLION + " --out {out}",
     "'--batch-size': a batch of 1,000,000,000 items would need about"),
    ("tune {base} --proxy edge --seed " + str(2**64) + " --out {out}", "'--seed'"),
    ("train --seed " + str(2**64) + " --out {out}", "'--seed'"),
    ("train --image-size 100000 --out {out}", "'--image-size': 100000 is not a multiple of 4 in 16..1024"),
    ("data preview --n " + BILLION + " --out {out}", "'--n': 1,000,000,000 scenes"),
    ("data preview --patch-size 5 --out {out}", "'--patch-size': 5 does not divide --image-size 32"),
    ("data stats --n " + BILLION, "'--n': 1,000,000,000 scenes"),
    ("demo --jobs 1000 --out {out}", "'--jobs': 1000 is not in 1.."),
    ("reproduce --jobs 1000 --out {out}", "'--jobs': 1000 is not in 1.."),
    ("reproduce --seeds " + BILLION + " --out {out}", "'--seeds'"),
]  # fmt: skip


@pytest.mark.parametrize("argv, says", BAD_OPTIONS, ids=[a for a, _ in BAD_OPTIONS])
def test_an_option_out_of_range_is_refused_before_any_work(base, tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    line = one_line(capsys, main(argv.format(base=base, out=out).split()))
    assert says in line, line
    if "would need" in says:
        assert f"this machine has {machine_memory() / 2**30:,.1f} GiB" in line
    assert not out.exists()


# the four the issue measured (a traceback, a NumPy memory error at 31 s, two runs until
# killed), each in a fresh interpreter: time and peak memory
ISSUE_OPTIONS = [o for o in BAD_OPTIONS if o[0] in (
    "compare {base} {base} --suites probes --n-probe-scenes 2 --out {out}",
    "compare {base} {base} --n-scenes " + BILLION + " --out {out}",
    "eval {base} --n " + BILLION,
    "tune {base} --proxy edge --batch-size " + BILLION + " --out {out}",
)]  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("argv, says", ISSUE_OPTIONS, ids=[a for a, _ in ISSUE_OPTIONS])
def test_an_option_out_of_range_is_refused_fast_in_bounded_memory(base, tmp_path, argv, says):
    code, err, seconds, peak = measured(argv.format(base=base, out=tmp_path / "out").split())
    assert code == 2 and says in err and "\n" not in err, err
    assert seconds < SECONDS and peak < PEAK, (seconds, peak)


def test_the_fewest_probe_scenes_allowed_are_enough(base, tmp_path):
    out = tmp_path / "r"
    argv = ["compare", str(base), str(base), "--suites", "probes", "--n-probe-scenes", "6",
            "--n-scenes", "1", "--out", str(out), "--device", "cpu"]  # fmt: skip
    with single_thread():
        assert main(argv) == 0
    assert load_report(out).data.probes is not None


# ---- interrupts ----


def _start(argv: list[str], err: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sgt_probe.cli", *argv],
                            stdout=subprocess.DEVNULL, stderr=open(err, "w"),
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip


def _wait_for(proc: subprocess.Popen, ready, seconds: float = 900) -> None:
    t0 = time.perf_counter()
    while not ready():
        assert proc.poll() is None, "the command ended before it was interrupted"
        assert time.perf_counter() - t0 < seconds, "the command never started working"
        time.sleep(0.2)


def _last_line(err: Path) -> str:
    # tqdm redraws its bar with carriage returns; the error is the last line
    return err.read_text().replace("\r", "\n").strip().splitlines()[-1]


def test_ctrl_c_on_tune_fails_saying_the_step_it_kept(base, tmp_path):
    out, err = tmp_path / "tuned.pt", tmp_path / "err.txt"
    log = out.with_suffix(".log.jsonl")
    proc = _start(["tune", str(base), "--proxy", "segmentation", "--steps", "100000",
                   "--batch-size", "4", "--out", str(out), "--device", "cpu"], err)  # fmt: skip

    def past_a_checkpoint() -> bool:  # the tiny recipe checkpoints every 50 steps, logs every 10
        done = log.read_text().split("\n")[:-1] if log.exists() else []  # whole lines only
        return any(json.loads(ln)["step"] > 50 for ln in done)

    _wait_for(proc, past_a_checkpoint)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 128 + signal.SIGINT
    line = _last_line(err)
    assert (
        line.startswith("error: interrupted by SIGINT; stopped at step ")
        and "Traceback" not in err.read_text()
    )
    kept = read_checkpoint(out)["step"]
    assert line.endswith(f"of 100000; {out} holds step {kept}; rerun it with --resume to continue")
    assert kept % 50 == 0 and kept >= 50


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_compare_fails_and_keeps_the_report_it_had(base, tmp_path, sig):
    out, err = tmp_path / "report", tmp_path / "err.txt"
    before = write_synthetic_report(out, n_ckpts=2)
    old = {f: (before / f).read_bytes() for f in (REPORT_JSON, ARRAYS_NPZ)}
    proc = _start(["compare", str(base), str(base), "--out", str(out), "--force",
                   "--device", "cpu"], err)  # fmt: skip
    _wait_for(proc, lambda: "benchmarks" in err.read_text())  # loaded, and working
    proc.send_signal(sig)
    assert proc.wait(timeout=300) == 128 + sig
    assert _last_line(err) == (f"error: interrupted by {signal.Signals(sig).name}; the report "
                               f"in {out} is the one it held before; rerun it to start again")  # fmt: skip
    assert "Traceback" not in err.read_text()
    assert {f: (out / f).read_bytes() for f in old} == old


# ---- reports ----


def test_a_report_with_numbers_written_as_strings_is_refused_naming_the_field(tmp_path, capsys):
    report = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    doc = json.loads((report / REPORT_JSON).read_text())
    doc["model"]["n_layers"] = str(doc["model"]["n_layers"])
    doc["benchmarks"]["scores"]["base"]["understanding"]["overall"] = "0.5"
    (report / REPORT_JSON).write_text(json.dumps(doc))
    with pytest.raises(ReportError) as e:
        load_report(report)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"{report / REPORT_JSON}: ")
    assert "model.n_layers: Input should be a valid integer" in said
    assert "benchmarks.scores.base.understanding.overall: Input should be a valid number" in said
    line = one_line(capsys, main(["dash", str(report)]))  # refused before it serves
    assert "model.n_layers" in line


def test_a_version_3_report_still_loads_strictly(tmp_path):
    """As the schema's notes say: probes with plain accuracy and their majority floor, and no
    benchmark floors."""
    report = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    doc = json.loads((report / REPORT_JSON).read_text())
    doc["schema_version"] = 3
    for targets in doc["probes"]["targets"].values():
        for result in targets.values():
            for key in ("metric", "floor", "n_classes"):
                result.pop(key, None)
    for scores in doc["benchmarks"]["scores"].values():
        for bench in ("understanding", "generation"):
            scores[bench].pop("floor", None)
    (report / REPORT_JSON).write_text(json.dumps(doc))
    data = load_report(report).data
    result = next(iter(data.probes.targets.values()))["semantic_class"]
    assert (result.metric, result.floor) == ("accuracy", result.majority)


def test_a_pickled_array_is_refused_before_the_dashboard_serves(tmp_path, capsys):
    report = write_synthetic_report(tmp_path / "r", n_ckpts=2)
    with np.load(report / ARRAYS_NPZ) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["explorer/images"] = np.array([{"any": "object"}, None], dtype=object)
    np.savez(report / ARRAYS_NPZ, **arrays)
    line = one_line(capsys, main(["dash", str(report)]))
    assert line.startswith(f"error: {report / ARRAYS_NPZ}: cannot read array 'explorer/images'")
    assert "allow_pickle=False" in line


# ---- any bytes as a checkpoint ----


def _fuzz_cases(good: bytes, seed: int = 0, n: int = 60):
    """(kind, bytes): random bytes, truncations of a good checkpoint, byte flips in it, torch
    zips with their pickle mutated, raw pickles of every protocol and small text files."""
    rng = random.Random(seed)
    for _ in range(n):
        yield "random", rng.randbytes(rng.randrange(4096))
        yield "truncated", good[: rng.randrange(len(good))]
        flipped = bytearray(good)
        for _ in range(rng.randrange(1, 16)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        yield "flipped", bytes(flipped)
        yield "zip", _mutated_zip(good, rng)
    for obj in ({"format": "sgt-probe-checkpoint", "format_version": 1}, [1, 2], "x", None):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            yield "pickle", pickle.dumps(obj, protocol=protocol)
    for text in ("", "hello", "{}", "PK", "PK\x03\x04", "model_config: 2\n", "\x80\x02}q\x00."):
        yield "text", text.encode("latin-1")


def _mutated_zip(good: bytes, rng: random.Random) -> bytes:
    """The checkpoint's zip with bytes of its pickle (and now and then of another member)
    changed: what torch's unpickler reads past the zip's own checks."""
    src, buf = zipfile.ZipFile(io.BytesIO(good)), io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in src.namelist():
            data = bytearray(src.read(name))
            if data and (name.endswith("data.pkl") or rng.random() < 0.1):
                for _ in range(rng.randrange(1, 10)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            z.writestr(name, bytes(data))
    return buf.getvalue()


def test_any_bytes_as_a_checkpoint_end_in_one_line(base, tmp_path, capsys):
    path = tmp_path / "fuzz.pt"
    loaded = 0
    for i, (kind, data) in enumerate(_fuzz_cases(base.read_bytes())):
        path.write_bytes(data)
        try:
            read_checkpoint(path)
            loaded += 1  # flipped bytes inside a tensor's data leave a good checkpoint
            continue
        except CheckpointError as e:
            said = str(e)
        assert "\n" not in said and said.startswith(f"{path}: "), (kind, said)
        if i % 10 == 0:  # and through the CLI: the same line, exit status 2
            assert one_line(capsys, main(["eval", str(path)])) == f"error: {said}"
    assert loaded < 100  # most cases are damage the checks see


def test_a_device_or_a_pipe_is_no_checkpoint(tmp_path, capsys):
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)
    for path in ("/dev/zero", pipe):
        line = one_line(capsys, main(["eval", str(path)]))
        assert line == f"error: {path}: is not a regular file"


def test_a_real_size_model_is_in_range_and_refused_only_beyond_the_machines_memory():
    """Emu3-8B's settings (transformers' defaults) pass every range: 8.8 billion parameters,
    32 GiB in float32, refused exactly where the machine has less."""
    mapping = {f"<|visual token {c:06d}|>": 151854 + c for c in range(32768)}
    config = {"model_type": "emu3", "vocabulary_map": {**mapping, "<image>": 151646,
                                                       "<|extra_200|>": 151847}}  # fmt: skip
    emu3 = hfchecks.ARCHITECTURES["emu3"]
    sizes = emu3.check(hfchecks.Settings(Fields(Path("config.json"), "", config),
                                         Fields(Path("p.json"), "", {}, emu3.image_defaults)))  # fmt: skip
    assert 8.5e9 < sizes.n_params < 9e9  # its decoder 8.5 billion, its VQ-VAE 0.27
    fits = sizes.weight_bytes <= machine_memory()
    try:
        check_weights(Path("emu3-8b"), sizes)
    except CheckpointError as e:
        assert not fits and "parameters would need about 3" in str(e), str(e)
    else:
        assert fits
