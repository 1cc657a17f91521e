"""Model and training configs, passed whole (nanoGPT style), with `to_dict`/`from_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

VISION_INPUTS = ("patch", "vq")
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
    ckpt_every: int = 50
    log_every: int = 10

    def task_weight(self, task: str) -> float:
        """The loss weight of a task name as the loop logs it (a proxy name is a proxy)."""
        named = {"understanding": self.understanding_weight, "caption": self.caption_weight,
                 "generation": self.generation_weight}  # fmt: skip
        return named.get(task, self.proxy_weight)


PRESETS: dict[str, dict] = {
    # tiny: the tests' preset (and a quick look at the pipeline); a k-means codebook fitted in
    # seconds, a few hundred steps. Its models answer at their priors.
    "tiny": {
        "model": ModelConfig(preset="tiny"),
        "train": TrainConfig(steps=300, batch_size=32),
        "tune": TrainConfig(steps=150, batch_size=32, lr=1.5e-3, warmup=10),
    },
    # small: the bases the demo and the study tune (one per world, shipped in
    # sgt_probe/bases/, made by `sgt-probe train --preset small`), 6 layers so the by-layer
    # analyses have a middle to look at, and the learned VQ-VAE the generation judge can read.
    # Base training is long (held-out answers leave their priors only after thousands of steps
    # on fresh scenes; benchmarks/learn_bench.py); tuning is short enough for the demo.
    "small": {
        "model": ModelConfig(preset="small", n_layers=6, n_codes=512, tokenizer="vqvae"),
        # Per-world model settings over "model". Digit glyphs need more of the codebook than
        # shapes: fitted as shapes' is, the judge read 0.73-0.88 of the families on VQ-decoded
        # digits ground truth (bar 0.80); twice the codes and scenes drawn 3x as often as each
        # map gave 0.81-0.94, maps as sharp (512 held-out scenes; benchmarks/tokenizer_bench.py
        # --world digits --variant n_codes=1024 --kinds scene,scene,scene,segmentation,depth,
        # edge,inpainting_input). Each alone moved no family beyond noise.
        "worlds": {"digits": {"n_codes": 1024, "tokenizer_scene_repeat": 3}},
        "train": TrainConfig(
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
        # every tuning, the `none` control included, keeps the unconditional stream trained.
        # Half the batch and twice the steps of 32 x 300, for the same items and compute: on the
        # 26,000-step shapes base segmentation mIoU 0.281 -> 0.346, understanding 0.899 / 0.893
        # (256 held-out scenes; benchmarks/learn_bench.py --tune ... --proxy segmentation).
        # The proxy is what tuning is for, so its loss weighs 8 against the base tasks' 1
        # (captions 0.5): at the same compute, proxy weight 1 / 3 / 6 / 8 / 12 gave mIoU
        # 0.346 / 0.446 / 0.508 / 0.536 / 0.559 at understanding 0.893 / 0.890 / 0.884 / 0.883 /
        # 0.890, where twice the learning rate gave 0.382 at 0.810 (same benchmark, --set).
        "tune": TrainConfig(
            steps=600, batch_size=16, lr=1e-3, warmup=40, prompt_dropout=0.1, proxy_weight=8.0
        ),
    },
}


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def base_model_config(name: str, world: str, **overrides) -> ModelConfig:
    """The model preset `name` trains on `world`: its "model", then its settings for that
    world, then `overrides`."""
    p = preset(name)
    return replace(p["model"], **{**p.get("worlds", {}).get(world, {}), **overrides})


__all__ = [
    "base_model_config",
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "replace",
    "TOKENIZERS",
    "VISION_INPUTS",
]
