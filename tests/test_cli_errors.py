"""Bad command lines and bad output paths: each is one line on stderr, exit status 2, naming the
option or file, before any work starts, with nothing written or lost; and the error path imports
only what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sgt_probe.cli import main
from sgt_probe.cli.compare import check_replaceable


@pytest.fixture
def some_file(tmp_path):
    """An existing file standing in for a checkpoint argument: option errors come first."""
    path = tmp_path / "some.pt"
    path.write_bytes(b"not read: the command line is refused before")
    return path


def _one_line_error(capsys, code) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


# (argv with {ckpt} for an existing file and {out} for a fresh path, what the line must name)
BAD_OPTIONS = [
    ("train --steps -5 --out {out}", "'--steps'"),
    ("train --steps 0 --out {out}", "'--steps'"),
    ("train --steps many --out {out}", "'--steps'"),
    ("train --world mars --out {out}", "'--world'"),
    ("train --preset huge --out {out}", "'--preset'"),
    ("train --vision-input pixels --out {out}", "'--vision-input'"),
    ("train --image-size 30 --out {out}", "'--image-size'"),
    ("train --seed -1 --out {out}", "'--seed'"),
    ("train --eval-fraction 1 --out {out}", "'--eval-fraction'"),
    ("train --device gpu --out {out}", "'--device'"),
    ("train --world folder --path {out} --out {out}", "'--path'"),
    ("train --bogus --out {out}", "--bogus"),
    ("train --init-from {out}.missing --out {out}", "missing: no such checkpoint file"),
    ("train --init-from {ckpt} --resume --out {out}", "--init-from starts a run"),
    ("tune {ckpt} --proxy segmentation --ratio -1 --out {out}", "'--ratio'"),
    ("tune {ckpt} --proxy segmentation --ratio 5 --out {out}", "'--ratio'"),
    ("tune {ckpt} --proxy segmentation --ratio 0 --out {out}", "'--ratio'"),
    ("tune {ckpt} --proxy poetry --out {out}", "'--proxy'"),
    ("tune {ckpt} --proxy edge --steps 0 --out {out}", "'--steps'"),
    ("tune {ckpt} --out {out}", "'--proxy'"),
    ("eval {ckpt} --n 0 --out {out}", "'--n'"),
    ("eval {ckpt} --proxies seg,depth --out {out}", "'--proxies'"),
    ("compare {ckpt} --out {out}", "two checkpoints"),
    ("compare {ckpt} {ckpt} --n-scenes 0 --out {out}", "'--n-scenes'"),
    ("compare {ckpt} {ckpt} --n-probe-scenes 1 --out {out}", "'--n-probe-scenes'"),
    ("dash --port 99999 {out}", "'--port'"),
    ("dash --port 0 {out}", "'--port'"),
    ("data preview --n 0 --out {out}", "'--n'"),
    ("data preview --n-codes 1 --out {out}", "'--n-codes'"),
    ("data stats --n 0", "'--n'"),
    ("demo --world folder --out {out}", "'--world'"),
    ("demo --jobs 0 --out {out}", "'--jobs'"),
    ("reproduce --seeds 0 --out {out}", "'--seeds'"),
    ("reproduce --worlds shapes,mars --out {out}", "'--worlds'"),
    ("reproduce --proxies edge,poetry --out {out}", "'--proxies'"),
]


@pytest.mark.parametrize("argv, names", BAD_OPTIONS, ids=[a for a, _ in BAD_OPTIONS])
def test_a_bad_option_is_one_line_naming_it(tmp_path, some_file, capsys, argv, names):
    out = tmp_path / "out"
    code = main(argv.format(ckpt=some_file, out=out).split())
    assert names in _one_line_error(capsys, code)
    assert not out.exists()


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere.pt"
    for argv in (["eval", str(missing)], ["compare", str(missing), str(missing)],
                 ["tune", str(missing), "--proxy", "edge", "--out", str(tmp_path / "t.pt")]):  # fmt: skip
        err = _one_line_error(capsys, main(argv))
        assert err == f"error: {missing}: no such checkpoint file\n"


# --- output paths ---


def test_an_output_file_that_is_a_folder_or_under_a_file_is_refused(tmp_path, some_file, capsys):
    folder, under_file = tmp_path / "dir", some_file / "x.pt"
    folder.mkdir()
    cases = [
        (["train", "--out", str(folder)], f"{folder} is a folder"),
        (["eval", str(some_file), "--out", str(folder)], f"{folder} is a folder"),
        (["data", "preview", "--out", str(folder)], f"{folder} is a folder"),
        (["train", "--out", str(under_file)], f"{some_file} is a file, not a folder"),
        (["tune", str(some_file), "--proxy", "edge", "--out", str(under_file)], "not a folder"),
    ]
    for argv, says in cases:
        err = _one_line_error(capsys, main(argv))
        assert "'--out'" in err and says in err, err
    assert some_file.read_bytes().startswith(b"not read")


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, some_file, capsys):
    for argv in (["compare", str(some_file), str(some_file), "--out", str(some_file)],
                 ["demo", "--out", str(some_file)], ["reproduce", "--out", str(some_file)]):  # fmt: skip
        err = _one_line_error(capsys, main(argv))
        assert f"'--out': {some_file} is a file, not a folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_a_read_only_output_folder_is_refused_before_training(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    err = _one_line_error(capsys, main(["train", "--out", str(locked / "base.pt")]))
    assert f"cannot write in {locked}" in err


@pytest.mark.parametrize("command", ["train", "tune"])
def test_a_fresh_run_keeps_an_existing_checkpoint_and_log(tmp_path, some_file, capsys, command):
    out = tmp_path / "run.pt"
    log = out.with_suffix(".log.jsonl")
    log.write_text('{"step": 10}\n')
    first = [command, *([str(some_file), "--proxy", "edge"] if command == "tune" else [])]
    err = _one_line_error(capsys, main([*first, "--out", str(out)]))
    assert (
        err == f"error: {log} exists; pass --resume to continue that run or choose another --out\n"
    )
    out.write_bytes(b"an earlier checkpoint")
    err = _one_line_error(capsys, main([*first, "--out", str(out)]))
    assert err.startswith(f"error: {out} exists; pass --resume")
    assert log.read_text() == '{"step": 10}\n' and out.read_bytes() == b"an earlier checkpoint"


def test_compare_keeps_a_report_of_other_checkpoints_unless_forced(tmp_path, some_file, capsys):
    out = tmp_path / "report"
    out.mkdir()
    report = out / "report.json"
    other = {"checkpoints": [{"path": "/elsewhere/base.pt"}, {"path": "/elsewhere/seg.pt"}]}
    report.write_text(json.dumps(other))
    err = _one_line_error(
        capsys, main(["compare", str(some_file), str(some_file), "--out", str(out)])
    )
    assert err.startswith(f"error: {report} is a report of other checkpoints; pass --force")
    assert json.loads(report.read_text()) == other
    check_replaceable(out, [some_file, some_file], force=True)  # --force: may replace it
    report.write_text("{damaged")  # a file it cannot read is not its to overwrite either
    with pytest.raises(Exception, match="other checkpoints"):
        check_replaceable(out, [some_file, some_file], force=False)
    # a rerun of the same checkpoints may rewrite their report
    same = {"checkpoints": [{"path": str(some_file)}, {"path": str(some_file)}]}
    report.write_text(json.dumps(same))
    check_replaceable(out, [some_file, some_file], force=False)


# --- what the error path imports ---

HEAVY = ("torch", "transformers", "sklearn", "transformer_lens", "sgt_probe.tuning.runner")
PROBE = """
import json, sys
from sgt_probe.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, [m for m in {heavy!r} if m in sys.modules]]))
"""


def _imports_after_error(argv: list[str]) -> tuple[int, list[str]]:
    """(exit status, the HEAVY modules loaded) of `sgt-probe ARGV` in a fresh interpreter."""
    probe = PROBE.format(heavy=HEAVY)
    run = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
    code, imported = json.loads(run.stdout)
    return code, imported


def test_an_option_or_path_error_imports_no_heavy_module(tmp_path):
    assert _imports_after_error(["train", "--steps", "-5"]) == (2, [])
    assert _imports_after_error(["eval", str(tmp_path / "missing.pt")]) == (2, [])


def test_a_bad_checkpoint_is_refused_with_torch_alone(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint")
    assert _imports_after_error(["eval", str(bad)]) == (2, ["torch"])
