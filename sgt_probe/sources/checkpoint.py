"""An sgt-probe `.pt` checkpoint behind the `ModelSource` protocol."""

from __future__ import annotations

from sgt_probe.capture.bridge import HookedRunner, ImageGrid, boot_loaded
from sgt_probe.model.config import TrainConfig, preset
from sgt_probe.model.generate import answer_probs, answer_probs_edited, generate_codes
from sgt_probe.model.loading import Loaded
from sgt_probe.tuning.taskdata import TaskData


def _settings(train_config: dict, preset_name: str, recipe: str | None) -> dict:
    """The training-config fields a tuning set over its recipe's (seed and proxy aside)."""
    if recipe is None:  # tuned before recipes had names
        return {}
    defaults = preset(preset_name).recipe(recipe).to_dict()
    return {k: v for k, v in train_config.items()
            if k not in ("seed", "proxy") and k in defaults and defaults[k] != v}  # fmt: skip


class CheckpointSource:
    """A loaded checkpoint: its vocabulary and VQ tokenizer make the items, its `UnifiedModel`
    scores and draws them."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        cfg = loaded.cfg
        ckpt = loaded.ckpt
        self.path, self.spec, self.proxy = loaded.path, loaded.spec, loaded.proxy
        self.stage = ckpt.stage if ckpt else None
        self.seed = loaded.train.seed if loaded.train else None
        self.step = ckpt.step if ckpt else 0
        self.kind = cfg.preset
        self.n_layers, self.n_heads, self.d_model = cfg.n_layers, cfg.n_heads, cfg.d_model
        self.grid = ImageGrid(cfg.grid, cfg.patch_size, cfg.patch_size**2 * 3)
        # Tuned checkpoints keep their base's vocabulary and codebook; items are made once
        # from the reference and fed to every checkpoint, as before this protocol.
        self.tokens = loaded.vocab
        self.judge_tokenizer = loaded.tokenizer
        # learned to draw without a prompt at some point of its training: its own (a base, a
        # weighted tuning) or its base's (a paper-recipe tuning trains no generation items, but
        # keeps what its base learned)
        trained = [loaded.train] if loaded.train else []
        if ckpt and ckpt.parent and ckpt.parent.train_config:
            trained.append(TrainConfig.from_dict(ckpt.parent.train_config))
        self.guidable = any(t.prompt_dropout > 0 for t in trained)
        self.recipe = ckpt.recipe if ckpt else None
        # as saved: a field the tuning predates is no setting of it
        self.settings = (_settings(ckpt.train_config, cfg.preset, self.recipe)
                         if self.stage == "tune" else {})  # fmt: skip
        self._runner: HookedRunner | None = None

    def world(self):
        return self.loaded.world()

    def task_data(self, world, indices, proxies=()) -> TaskData:
        ld = self.loaded
        return TaskData(world, ld.tokenizer, ld.vocab, ld.cfg, indices, proxies)

    # knockouts can block edges in the model's own attention (answer_probs_edited), which the
    # runner's bridge leaves alone: it is booted over a twin of the model sharing its weights
    edit_attention = True

    def answer_probs(self, items, choices, forward=None):
        return answer_probs(self.loaded.model, items, self.loaded.vocab, choices, forward=forward)

    def answer_probs_edited(self, items, choices, edits):
        return answer_probs_edited(self.loaded.model, items, self.loaded.vocab, choices, edits)

    def generate_codes(self, items, temperature=0.0, unconditional=None, guidance=1.0):
        return generate_codes(self.loaded.model, items, self.loaded.vocab, temperature=temperature,
                              unconditional=unconditional, guidance=guidance)  # fmt: skip

    def decode(self, codes):
        return self.loaded.tokenizer.decode(codes, self.loaded.cfg.image_size)

    def token_texts(self, ids) -> list[str]:
        return self.loaded.vocab.decode(ids)

    def runner(self) -> HookedRunner:
        if self._runner is None:
            model = self.loaded.model
            # patch-encoder inputs are injected at the embedding hook; VQ inputs are token ids
            embed = (lambda b: model.embed(b["input_ids"], b["pixels"])) if (
                self.loaded.cfg.vision_input == "patch") else None  # fmt: skip
            self._runner = HookedRunner(boot_loaded(self.loaded), self.grid, embed)
        return self._runner
