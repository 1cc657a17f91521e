"""TransformerLens bridge adapters for the language models of Janus and Chameleon.

TransformerLens 4.x adapts Emu3 but neither Janus nor Chameleon; these adapters are registered
with its `ArchitectureAdapterFactory` (`register`) before a bridge boots, so every unified model
gives the same hook names (`blocks.{L}.hook_resid_post`, `blocks.{L}.attn.hook_pattern`, ...).
As for Emu3, only the decoder is mapped: the vision encoders and VQ models have no place in the
residual stream (a model source turns images into token ids or input embeddings itself).

- **Janus** (`JanusForConditionalGeneration`): a Llama decoder at `model.language_model`, its
  `lm_head` at the top. The generation head and embeddings (`model.generation_*`) sit beside the
  decoder, fed by its residual stream: they are reached through `bridge.original_model`.
- **Chameleon** (`ChameleonForConditionalGeneration`, and Anole, which shares its weights'
  layout): a Llama-shaped decoder at `model.layers` whose attention normalizes queries and keys
  per head (a LayerNorm with a weight per head, `q_norm` / `k_norm`, applied before RoPE), and,
  with `swin_norm`, norms after attention and the MLP instead of before them (Chameleon-30B).
  The bridge calls the model's own forward, so the image-token logits it masks stay masked.
"""

from __future__ import annotations

from typing import Any

from transformer_lens.factories import architecture_adapter_factory as factory
from transformer_lens.model_bridge.architecture_adapter import ArchitectureAdapter
from transformer_lens.model_bridge.generalized_components import (
    BlockBridge,
    EmbeddingBridge,
    LinearBridge,
    NormalizationBridge,
    PositionEmbeddingsAttentionBridge,
    RMSNormalizationBridge,
    RotaryEmbeddingBridge,
    UnembeddingBridge,
)
from transformer_lens.model_bridge.sources import _bridge_builder
from transformer_lens.model_bridge.supported_architectures.llama import LlamaArchitectureAdapter


class JanusArchitectureAdapter(LlamaArchitectureAdapter):
    """Janus's language model: Llama's mapping under `model.language_model.`."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.cfg.is_multimodal = True
        self._reprefix_components("model.", "model.language_model.")


class ChameleonArchitectureAdapter(ArchitectureAdapter):
    """Chameleon's decoder: RMS norms, RoPE, a gated MLP, per-head LayerNorm on queries and
    keys; pre-norm blocks, or post-norm ones under `swin_norm`."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self._set_rms_rotary_defaults()
        self.cfg.is_multimodal = True
        swin = bool(getattr(cfg, "swin_norm", False))
        # norms applied to a sublayer's output cannot fold into the next one's weights
        self.supports_fold_ln = not swin
        self.weight_processing_conversions = {**self._qkvo_weight_conversions()}
        # The per-head LayerNorms ([heads, head_dim] weights) run as the model's own modules
        # (native path): their epsilon is not the RMS norms' one from the config.
        qk_norms = {
            key: NormalizationBridge(name=key, config=self.cfg, use_native_layernorm_autograd=True)
            for key in ("q_norm", "k_norm")
        }
        attn = PositionEmbeddingsAttentionBridge(
            name="self_attn", config=self.cfg,
            submodules={"q": LinearBridge(name="q_proj"), "k": LinearBridge(name="k_proj"),
                        "v": LinearBridge(name="v_proj"), "o": LinearBridge(name="o_proj"),
                        **qk_norms},
            requires_attention_mask=True, requires_position_embeddings=True,
        )  # fmt: skip
        # swin: input_layernorm normalizes the attention output, post_attention_layernorm the
        # MLP's (transformers' ChameleonSwinDecoderLayer)
        norms = ("ln1_post", "ln2_post") if swin else ("ln1", "ln2")
        self.component_mapping = {
            "embed": EmbeddingBridge(name="model.embed_tokens"),
            "rotary_emb": RotaryEmbeddingBridge(name="model.rotary_emb", config=self.cfg),
            "blocks": BlockBridge(
                name="model.layers",
                submodules={
                    norms[0]: RMSNormalizationBridge(name="input_layernorm", config=self.cfg),
                    norms[1]: RMSNormalizationBridge(
                        name="post_attention_layernorm", config=self.cfg
                    ),
                    "attn": attn,
                    "mlp": self._gated_mlp(),
                },
            ),
            "ln_final": RMSNormalizationBridge(name="model.norm", config=self.cfg),
            "unembed": UnembeddingBridge(name="lm_head", config=self.cfg),
        }


ADAPTERS = {
    "JanusForConditionalGeneration": JanusArchitectureAdapter,
    "ChameleonForConditionalGeneration": ChameleonArchitectureAdapter,
}


def register() -> None:
    """Make TransformerLens boot Janus and Chameleon models with these adapters (idempotent).

    TransformerLens copies only the config fields it declares or lists as passthrough onto the
    bridge's config; `swin_norm`, which picks Chameleon's block layout, joins that list (an
    AttributeError here, loud, should a release rename it). `boot_transformers` looks an
    architecture up in `SUPPORTED_ARCHITECTURES` before asking the factory, so the adapters go
    into both."""
    passthrough = _bridge_builder._HF_PASSTHROUGH_ATTRS
    if "swin_norm" not in passthrough:
        passthrough.append("swin_norm")
    for name, adapter in ADAPTERS.items():
        factory.SUPPORTED_ARCHITECTURES[name] = adapter
        factory.ArchitectureAdapterFactory.register_adapter(name, adapter)
