"""Typed configuration: overrides and dicts are checked field by field, an unknown one named;
every run, a checkpoint file or a model directory, resumes by one check."""

from __future__ import annotations

import pytest

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.compare.config import CompareConfig
from sgt_probe.data.spec import DataSpec
from sgt_probe.model.config import (
    RECIPES,
    ModelConfig,
    Overrides,
    PresetOverrides,
    TrainConfig,
    base_model_config,
    preset,
)
from sgt_probe.sources.tuning import tune
from sgt_probe.tuning import check_resume


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda: TrainConfig.overrides(steps=3, stepz=4), "TrainConfig has no field 'stepz'"),
        (lambda: ModelConfig.overrides(layers=2), "ModelConfig has no field 'layers'"),
        (
            lambda: TrainConfig.from_dict({"lr": 1e-3, "batch": 8}),
            "TrainConfig has no field 'batch'",
        ),
        (lambda: ModelConfig.from_dict({"d_modle": 64}), "ModelConfig has no field 'd_modle'"),
        (
            lambda: DataSpec.from_dict({"world": "shapes", "size": 32}),
            "DataSpec has no field 'size'",
        ),
    ],
)
def test_an_unknown_field_is_a_one_line_error_naming_it(make, says):
    with pytest.raises(ValueError, match=f"^{says}$"):
        make()


def test_overrides_apply_in_order_and_to_their_own_class_only():
    base = TrainConfig.overrides(seed=3, steps=10)
    both = base | TrainConfig.overrides(steps=20)
    assert both.apply(TrainConfig()) == TrainConfig(seed=3, steps=20)
    assert both == TrainConfig.overrides(seed=3, steps=20) and hash(both) == hash(both)
    with pytest.raises(TypeError, match="TrainConfig overrides applied to ModelConfig"):
        base.apply(ModelConfig())
    with pytest.raises(TypeError):
        base | ModelConfig.overrides(d_model=64)


def test_the_presets_and_recipes_are_typed_and_their_defaults_written_once():
    small = preset("small")
    assert all(isinstance(o, Overrides) and o.config is TrainConfig for o in RECIPES.values())
    assert small.recipe("paper") == RECIPES["paper"].apply(
        TrainConfig(steps=800, batch_size=16, lr=1e-3, warmup=40)
    )
    two = PresetOverrides(model=ModelConfig.overrides(n_layers=2))
    assert base_model_config("small", "digits", two.model).n_codes == 1024  # the world's own
    assert base_model_config("small", "digits", two.model).n_layers == 2
    # the CLI's defaults are CompareConfig's own
    from sgt_probe.cli.compare import compare

    defaults = compare.__defaults__
    assert CompareConfig.n_scenes in defaults and CompareConfig.n_probe_scenes in defaults


RUN = TrainConfig(steps=10)


def _resume(saved: dict, step: int, resumable: bool = True, same=None, tcfg=RUN) -> bool:
    return check_resume("run.pt", tcfg, saved, step, resumable, same or {})


def test_one_resume_check_continues_extends_or_refuses():
    saved = RUN.to_dict()
    assert _resume(saved, 10) is True  # finished: nothing to do
    assert _resume(saved, 4) is False  # continued
    assert _resume(saved, 10, tcfg=TrainConfig(steps=12)) is False  # extended
    older = {k: v for k, v in saved.items() if k != "prompt_dropout"}  # predates the option
    assert _resume(older, 4, tcfg=TrainConfig(steps=10, prompt_dropout=0.1)) is False
    refused = [
        (lambda: _resume(saved, 4, tcfg=TrainConfig(steps=10, lr=1.0)), "another training config"),
        (lambda: _resume(saved, 4, same={"world": ("shapes", "digits")}), "another world"),
        (lambda: _resume(saved, 10, tcfg=TrainConfig(steps=8)), "at step 10, past --steps 8"),
        (lambda: _resume(saved, 4, resumable=False), "was exported"),
    ]
    for call, says in refused:
        with pytest.raises(CheckpointError, match=f"^run.pt: .*{says}"):
            call()


def test_the_one_tuning_entry_point_checks_its_arguments_before_loading(tmp_path):
    with pytest.raises(ValueError, match="unknown proxy 'poetry'"):
        tune(tmp_path / "base.pt", "poetry", tmp_path / "out.pt")
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        tune(tmp_path / "base.pt", "edge", tmp_path / "out.pt", recipe="fast")
    with pytest.raises(ValueError, match="a model directory is tuned on the world you name"):
        tune(tmp_path, "edge", tmp_path / "out")
    with pytest.raises(ValueError, match="a checkpoint is tuned on its own world"):
        tune(tmp_path / "base.pt", "edge", tmp_path / "out.pt", spec=DataSpec())
