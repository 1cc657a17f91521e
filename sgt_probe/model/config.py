"""Model and training configs, passed whole (nanoGPT style), with `to_dict`/`from_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

VISION_INPUTS = ("patch", "vq")
SCHEDULES = ("cosine", "constant")
TOKENIZERS = ("kmeans", "vqvae")  # sgt_probe.tokenizer.KINDS


class _Dict:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ModelConfig(_Dict):
    preset: str = "tiny"
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 384
    vision_input: str = "patch"  # "patch": learned patch encoder (Janus/BAGEL); "vq": codes in
    image_size: int = 32
    patch_size: int = 4
    n_codes: int = 256
    tokenizer: str = "kmeans"  # "kmeans" | "vqvae" (sgt_probe.tokenizer)
    # The tokenizer is fitted on every image kind of its scenes, scenes drawn this many times
    # as often as each map (sgt_probe.tokenizer.fit_tokenizer).
    tokenizer_scene_repeat: int = 1
    max_len: int = 160
    vocab_size: int = 0  # filled from the vocabulary when the model is built

    def __post_init__(self) -> None:
        if self.vision_input not in VISION_INPUTS:
            raise ValueError(f"vision_input must be one of {VISION_INPUTS}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}")
        if self.tokenizer_scene_repeat < 1:
            raise ValueError("tokenizer_scene_repeat must be >= 1")
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid


@dataclass(frozen=True)
class TrainConfig(_Dict):
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 30
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    # training scenes: the first n of the world's "train" split, drawn at random and rendered
    # on the fly
    n_scenes: int = 1_000_000
    proxy: str | None = None  # None: base training (understanding + generation only)
    proxy_ratio: float = 0.5  # share of each batch spent on the proxy task when tuning
    # The base-task mix (relative shares of the items that are not proxy items): question
    # dialogues, captions, and prompt -> image generation.
    understanding_share: float = 0.4
    caption_share: float = 0.2
    generation_share: float = 0.4
    # Loss weights: each task's loss is the mean over its own target tokens, and the batch loss
    # their weighted mean. Summing over tokens instead let a 65-code image outweigh a one-word
    # answer 65:1, leaving understanding ~2% of the loss.
    understanding_weight: float = 1.0
    caption_weight: float = 0.5
    generation_weight: float = 1.0
    proxy_weight: float = 1.0
    # Share of generation items trained without their prompt, so the model also learns the
    # unconditional image distribution that classifier-free guidance contrasts the prompt
    # against (Ho & Salimans 2022; Emu3 and Janus drop 10%). 0: no unconditional training.
    prompt_dropout: float = 0.0
    # Learning rate after warm-up: "cosine" decays to min_lr_ratio * lr by the last step;
    # "constant" holds lr (the paper's tuning: constant after warm-up).
    schedule: str = "cosine"
    # Proxy items draw their scenes from the first proxy_scenes of the training pool (0: all of
    # it): the data-scaling arm's budget of distinct proxy scenes. The other items are unchanged.
    proxy_scenes: int = 0
    # The few-label arm: a share few_label_share of each batch asks the few-label family
    # (data.scene.FEW_LABEL_FAMILIES, asked in no dialogue) on one of the first few_label_scenes
    # training scenes, one question per item. 0: the family is never asked.
    few_label_scenes: int = 0
    few_label_share: float = 0.25
    ckpt_every: int = 50
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")

    def task_weight(self, task: str) -> float:
        """The loss weight of a task name as the loop logs it (a proxy name is a proxy)."""
        named = {"understanding": self.understanding_weight, "caption": self.caption_weight,
                 "generation": self.generation_weight}  # fmt: skip
        return named.get(task, self.proxy_weight)


@dataclass(frozen=True)
class Preset:
    """A model size with its base-training schedule and its tuning recipes, passed whole."""

    name: str
    model: ModelConfig
    train: TrainConfig  # base training
    # Tuning recipes by name, the default first (`RECIPES` says what each one is).
    recipes: dict[str, TrainConfig]
    # A world's own model settings, where they differ from `model` (its tokenizer).
    world_models: dict[str, ModelConfig] = field(default_factory=dict)

    def model_for(self, world: str) -> ModelConfig:
        return self.world_models.get(world, self.model)

    def recipe(self, name: str | None = None) -> TrainConfig:
        """The tuning config of recipe `name` (None: the default); ValueError naming it."""
        name = name or DEFAULT_RECIPE
        if name not in self.recipes:
            raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(self.recipes)}")
        return self.recipes[name]


# What each tuning recipe is (the README's "Tuning recipes" says more).
RECIPES = {
    # The paper's released training (song2yu/SGT: BAGEL data/configs/high_mixed_sam.yaml and its
    # README's "2:1 (Segmentation : VQA)"; OmniGen2 options/sft_panoptic.yml): the proxy mixed
    # with question dialogues only, 2:1 in every batch, each loss at weight 1, the learning rate
    # constant after warm-up. Its `none` spends the same steps on the dialogues alone (the
    # paper's SFT-only arm).
    "paper": dict(
        proxy_ratio=2 / 3,
        understanding_share=1.0,
        caption_share=0.0,
        generation_share=0.0,
        proxy_weight=1.0,
        schedule="constant",
    ),  # fmt: skip
    # This project's earlier recipe: the proxy 1:1 with every base task (dialogues, captions,
    # generation, prompts dropped 10% of the time), its loss weighted 8, a cosine schedule.
    "weighted": dict(
        proxy_ratio=0.5,
        understanding_share=0.4,
        caption_share=0.2,
        generation_share=0.4,
        proxy_weight=8.0,
        prompt_dropout=0.1,
    ),  # fmt: skip
}
DEFAULT_RECIPE = "paper"


def _recipes(**common) -> dict[str, TrainConfig]:
    """Every recipe at the same steps, batch and learning rate (`common`)."""
    return {name: TrainConfig(**{**common, **settings}) for name, settings in RECIPES.items()}


_TINY = ModelConfig(preset="tiny")
_SMALL = ModelConfig(preset="small", n_layers=6, n_codes=512, tokenizer="vqvae")

PRESETS: dict[str, Preset] = {
    # tiny: the tests' preset (and a quick look at the pipeline); a k-means codebook fitted in
    # seconds, a few hundred steps. Its models answer at their priors.
    "tiny": Preset(
        "tiny",
        _TINY,
        TrainConfig(steps=300, batch_size=32),
        _recipes(steps=150, batch_size=32, lr=1.5e-3, warmup=10),
    ),
    # small: the bases the demo and the study tune (one per world, shipped in
    # sgt_probe/bases/, made by `sgt-probe train --preset small`; docs/bases.md), 6 layers so the
    # by-layer analyses have a middle to look at, and the learned VQ-VAE the generation judge can
    # read. Digit glyphs need more of the codebook than shapes: twice the codes, scenes drawn 3x
    # as often as each map when the tokenizer is fitted (docs/bases.md, "The tokenizer").
    "small": Preset(
        "small",
        _SMALL,
        TrainConfig(
            steps=6000,
            batch_size=32,
            lr=2e-3,
            warmup=300,
            ckpt_every=500,
            log_every=50,
            understanding_share=0.45,
            caption_share=0.2,
            generation_share=0.35,
            prompt_dropout=0.1,
        ),  # fmt: skip
        # steps and learning rate chosen with benchmarks/learn_bench.py (docs/study.md, "The
        # recipes"): the paper recipe's segmentation reaches mIoU >= 0.50 on shapes without the
        # weighted recipe's x8 (0.49 at 600 steps, 0.61 at 900; twice the rate cost more
        # understanding for no more mIoU)
        _recipes(steps=800, batch_size=16, lr=1e-3, warmup=40),
        {"digits": replace(_SMALL, n_codes=1024, tokenizer_scene_repeat=3)},
    ),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def base_model_config(name: str, world: str, **overrides) -> ModelConfig:
    """The model preset `name` trains on `world`: its model for that world, then `overrides`."""
    return replace(preset(name).model_for(world), **overrides)


__all__ = [
    "base_model_config",
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "Preset",
    "RECIPES",
    "DEFAULT_RECIPE",
    "SCHEDULES",
    "preset",
    "replace",
    "TOKENIZERS",
    "VISION_INPUTS",
]
