"""Headless Chromium for dash.testing's browser fixtures (`dash_duo`)."""

from __future__ import annotations

import os
import re
import sys
import tempfile

import pytest

import sgt_probe  # noqa: F401  (sets OMP_WAIT_POLICY before any test module imports torch)

# Under pytest-xdist (`make test`: two workers on two cores) each worker and what it starts get
# one intra-op thread: two two-thread workers spin-wait on each other's cores, and the parallel
# suite took as long as the serial one (752 s against 774 s).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

# What sgt-probe keeps on disk between processes (the judge's fit, the blind answerer's priors)
# goes to a temporary folder of this run's, not the user's cache: every run starts from nothing.
# One folder for the whole run: the pytest-xdist workers inherit the controller's environment
# (SGT_PROBE_TEST_CACHE), so what one builds the other reuses (disk_cached writes atomically).
os.environ["SGT_PROBE_CACHE"] = os.environ.get("SGT_PROBE_TEST_CACHE") or tempfile.mkdtemp(
    prefix="sgt-probe-test-cache-"
)
os.environ["SGT_PROBE_TEST_CACHE"] = os.environ["SGT_PROBE_CACHE"]

CHROMIUM = "/usr/bin/chromium"
# Root in a container needs --no-sandbox; the rest keep an offline Chromium from retrying
# connections to Google services and from flooding the log with refusals.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


# No test may install anything. TransformerLens runs `pip install torchvision` when a multimodal
# model's processor fails to load (`sgt_probe.capture.bridge.boot` keeps it from trying), which
# put a CUDA torch into .venv. An audit hook (PEP 578) sees every way Python starts a program,
# however deep in a library: it refuses any command that installs, and records it, so the test
# that tried fails. Every audit event passes through it; at ~0.4 us each it costs about 1%.
REFUSED_INSTALLS: list[str] = []
# the events that start a program; where one carries the environment, it is the last argument
SPAWN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")


def _refuse_installs(event: str, args: tuple) -> None:
    if event not in SPAWN_EVENTS:
        return
    parts = args if event == "os.system" else args[:-1]
    words = [w for p in parts for w in (p if isinstance(p, list | tuple) else [p])]
    command = " ".join(map(str, words))
    if re.search(r"\binstall\b", command):  # pip, uv, conda and apt all say it
        REFUSED_INSTALLS.append(command)
        raise PermissionError(f"tests may not install anything: {command}")


sys.addaudithook(_refuse_installs)


@pytest.fixture(autouse=True)
def _installs_nothing():
    before = len(REFUSED_INSTALLS)
    yield
    assert REFUSED_INSTALLS[before:] == [], "this test tried to install something"


def pytest_setup_options():
    """dash.testing's hook: the options its fixtures start Chrome with (chromedriver from PATH)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if os.path.exists(CHROMIUM):
        options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return options


# The slow tier (`make test` runs everything; `make test-fast` leaves these out): files whose
# tests train, tune or compare models, start browsers, clusters or many CLI processes; and every
# test that reads the report of a real compare run.
SLOW_FILES = {
    "test_app_browser.py", "test_attention_memory.py", "test_checkpoint.py", "test_compare.py",
    "test_distributed.py", "test_emu3.py", "test_evals.py", "test_folder_e2e.py",
    "test_hostile.py", "test_judge.py", "test_ray.py", "test_reproduce.py",
    "test_shipped_bases.py", "test_training.py", "test_unified_models.py",
}  # fmt: skip
# and single tests of the other files that take seconds (fits, subprocesses, many draws)
SLOW_TESTS = {
    "test_make_all_writes_every_analysis", "test_static_export_failure_keeps_the_html",
    "test_prompt_dropout_leaves_out_the_prompt_of_that_share_of_generation_items",
    "test_vqvae_round_trips_geometry_and_learns", "test_round_trip_psnr_per_kind_on_held_out_scenes",
    "test_vqvae_is_deterministic_and_survives_weights_only_load",
    "test_a_bad_checkpoint_is_refused_with_torch_alone",
    "test_a_million_layers_are_refused_fast_without_allocating",
    "test_decoding_does_not_depend_on_batch_size_or_batch_mates",
    "test_guidance_picks_from_the_conditional_logits_pushed_away_from_the_unconditional",
    "test_an_option_or_path_error_imports_no_heavy_module",
    "test_jackknife_interval_covers_the_population_cka_about_as_often_as_it_says",
    "test_cv_scores_match_sklearn_on_the_same_folds", "test_probe_matches_sklearn_accuracy",
    "test_the_page_is_written_with_every_figure",
    "test_what_the_world_could_not_support_is_said_on_the_page_and_under_the_tables",
}  # fmt: skip


# The longest files first (each takes one to three minutes on the 2-core CPU, `--durations`).
# pytest-xdist's `--dist loadfile --no-loadscope-reorder` (the Makefile's) hands files to the
# workers in collection order; alphabetically, or by xdist's own order (most tests first),
# several of the longest came last, one worker running them while the other had finished.
LONGEST_FIRST = (
    "test_app_browser.py", "test_unified_models.py", "test_reproduce.py", "test_emu3.py",
    "test_ray.py", "test_hostile.py", "test_attention_memory.py", "test_analyses.py",
    "test_distributed.py", "test_judge.py", "test_training.py", "test_evals.py",
    "test_shipped_bases.py", "test_sequences.py", "test_tokenizer.py", "test_folder_e2e.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole
    for item in items:
        if (
            item.path.name in SLOW_FILES
            or getattr(item, "originalname", item.name) in SLOW_TESTS
            or "real_report" in getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    # selenium 4.2 calls a urllib3 API that warns on every webdriver request (hundreds a test)
    config.addinivalue_line("filterwarnings", "ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture(scope="session")
def real_report(tmp_path_factory):
    """A report dir written by a real `sgt-probe compare` run on two tiny checkpoints (a base
    and its segmentation tuning), shared by the compare, dashboard and analyses tests."""
    from helpers_train import built_once, shared_base, single_thread, tune_tiny

    from sgt_probe.cli import main

    base = shared_base(tmp_path_factory)

    def build(root):
        root.mkdir()
        seg = tune_tiny(base, root / "segmentation.pt", steps=60)
        argv = ["compare", str(base), str(seg), "--out", str(root / "report"), "--n-scenes",
                "16", "--n-probe-scenes", "24", "--device", "cpu"]  # fmt: skip
        with single_thread():
            assert main(argv) == 0

    return built_once(tmp_path_factory, "real", build) / "report"
