"""A Hugging Face `ChameleonForConditionalGeneration` directory (Chameleon, Anole) behind the
`ModelSource` protocol.

Chameleon reads and draws images as the codes of one VQ-GAN, each code a token of the shared
vocabulary (`IMGIMG...` names, `vocabulary_map`); its processor lays an image out as
`<racm3:break>`, the image tokens, `<eoss>`, and ends a chat turn with the separator token. So:

    understanding: <bos> IMAGE question <sep>                 -> answer
    generation:    <bos> prompt <sep> <racm3:break>           -> image tokens <eoss>
    proxy:         <bos> IMAGE draw the ... <sep> <racm3:break> -> image tokens <eoss>

Its Hugging Face forward forbids image tokens in the logits (they are set to the lowest value):
scoring reads that forward, while drawing and tuning read `lm_head` over the decoder's output,
where image tokens compete with text as Anole, the image-generating Chameleon, draws them.

transformers' port keeps only the VQ-GAN's encoder. Its decoder, which turns codes into pixels,
is the taming-transformers decoder of Chameleon's release (`vqgan.ckpt`); a directory carries it
as `vqgan_decoder.safetensors` (DECODER: the checkpoint's `decoder.*` weights, prefix dropped;
docs/models.md converts one), built from the model's `vq_config` (`VQGANDecoder`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F
from transformers import ChameleonForConditionalGeneration, ChameleonProcessor
from transformers.models.chameleon.modeling_chameleon import (
    ChameleonVQVAEEncoderAttnBlock,
    ChameleonVQVAEEncoderResnetBlock,
)

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.model.generate import CACHE_KW
from sgt_probe.sources.hf import HFSource
from sgt_probe.sources.hf_items import Layout, PixelValueImages, Prompts
from sgt_probe.sources.hfdir import CHAMELEON_DECODER as DECODER

SEP = "<reserved08706>"  # Chameleon's separator: ends a chat turn (the processor appends it)
PROMPTS = Prompts(user="", cue=SEP, next_user=" ", gen_cue=SEP, special=(SEP,))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class VQGANDecoder(nn.Module):
    """The VQ-GAN decoder of Chameleon's release (taming-transformers' `Decoder`), its shape
    read from `ChameleonVQVAEConfig`; the blocks are transformers' own encoder blocks, which
    are taming's `ResnetBlock` and `AttnBlock` (the same weights' names)."""

    def __init__(self, config):
        super().__init__()
        mult = list(config.channel_multiplier)
        n_levels = len(mult)
        block_in = config.base_channels * mult[-1]
        res = config.resolution // 2 ** (n_levels - 1)
        attn_at = set(config.attn_resolutions or [])
        self.conv_in = nn.Conv2d(config.latent_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ChameleonVQVAEEncoderResnetBlock(config, block_in, block_in)
        self.mid.attn_1 = (ChameleonVQVAEEncoderAttnBlock(block_in)
                           if config.attn_type == "vanilla" else nn.Identity())  # fmt: skip
        self.mid.block_2 = ChameleonVQVAEEncoderResnetBlock(config, block_in, block_in)
        up = []
        for level in reversed(range(n_levels)):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            block_out = config.base_channels * mult[level]
            for _ in range(config.num_res_blocks + 1):
                stage.block.append(ChameleonVQVAEEncoderResnetBlock(config, block_in, block_out))
                block_in = block_out
                if res in attn_at and config.attn_type == "vanilla":
                    stage.attn.append(ChameleonVQVAEEncoderAttnBlock(block_in))
            if level:
                stage.upsample = Upsample(block_in)
                res *= 2
            up.insert(0, stage)
        self.up = nn.ModuleList(up)
        self.norm_out = nn.GroupNorm(32, block_in, eps=1e-6, affine=True)
        self.conv_out = nn.Conv2d(block_in, config.in_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for level in reversed(range(len(self.up))):
            stage = self.up[level]
            for k, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn):
                    h = stage.attn[k](h)
            if level:
                h = stage.upsample(h)
        h = self.norm_out(h)
        return self.conv_out(h * torch.sigmoid(h))


def load_decoder(path: Path, config, device, dtype) -> VQGANDecoder:
    decoder = VQGANDecoder(config)
    try:
        state = load_file(Path(path) / DECODER)
        decoder.load_state_dict(state)
    except (OSError, RuntimeError, SafetensorError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(
            f"{Path(path) / DECODER}: not the VQ-GAN decoder of this model's vq_config ({first})"
        ) from None
    return decoder.to(device, dtype).eval().requires_grad_(False)


class ChameleonImages(PixelValueImages):
    """Chameleon's processor (resize the short side, center-crop, scale to [-1, 1]) and
    VQ-GAN: its encoder (transformers'), and its decoder (`VQGANDecoder`)."""

    def __init__(self, model, processor, image_size: int, path, batch_size: int = 32):
        self.ip = processor.image_processor
        vq = model.model.vqmodel
        crop = self.ip.crop_size
        side = int(crop["height"])
        if crop["width"] != side or not self.ip.do_center_crop:
            raise CheckpointError(f"{path}: its image processor does not crop to a square")
        super().__init__(vq, image_size, side, 2 ** (len(vq.config.channel_multiplier) - 1),
                         path, batch_size)  # fmt: skip
        if processor.image_seq_length != self.grid**2:
            raise CheckpointError(
                f"{path}: its processor lays out {processor.image_seq_length} image tokens, "
                f"its VQ-GAN {self.grid}x{self.grid} codes"
            )
        self.decoder = load_decoder(path, vq.config, self.device, vq.dtype)

    def _decode(self, codes):
        """taming's VQModel.decode: the codebook's vectors, post_quant_conv, the decoder."""
        n, g = len(codes), self.grid
        z = self.vq.quantize.embedding(codes).view(n, g, g, -1).permute(0, 3, 1, 2)
        return self.decoder(self.vq.post_quant_conv(z))

    def _postprocess(self, pixels):
        """The processor's normalization undone: x * std + mean, over the rescale factor."""
        mean = torch.tensor(self.ip.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.ip.image_std).view(1, 3, 1, 1)
        values = ((pixels * std + mean) / self.ip.rescale_factor).round().clamp(0, 255)
        arrays = values.to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return [Image.fromarray(np.ascontiguousarray(a)) for a in arrays]


def chameleon_layout(model, processor, images: ChameleonImages, path) -> Layout:
    tok = processor.tokenizer
    size = images.image_size
    blank = np.zeros((size, size, 3), np.uint8)
    ids = processor(images=[blank], text=[processor.image_token],
                    return_for_text_completion=True)["input_ids"][0]  # fmt: skip
    ids = [int(t) for t in ids]
    start, end = ids.index(processor.image_start_token_id), ids.index(processor.image_end_token_id)
    mapping = model.model.vocabulary_mapping
    visual = mapping.img2bpe_mapping_tensor.long()  # the token of each VQ code
    if len(visual) != model.config.vq_config.num_embeddings:
        raise CheckpointError(
            f"{path}: its vocabulary names {len(visual)} image tokens, its VQ-GAN "
            f"{model.config.vq_config.num_embeddings} codes"
        )
    prompts = PROMPTS
    if tok.sep_token and tok.sep_token != SEP:  # a release with another separator
        prompts = Prompts(user="", cue=tok.sep_token, next_user=" ", gen_cue=tok.sep_token)
    return Layout(tok, prompts, ids[start : end + 1], processor.image_token_id, images.grid,
                  visual, visual)  # fmt: skip


class ChameleonSource(HFSource):
    kind = "chameleon"
    model_class = ChameleonForConditionalGeneration
    processor_class = ChameleonProcessor
    lora_targets = r"model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"

    @staticmethod
    def text_config(config):
        return config

    @classmethod
    def extra_files(cls):
        return (DECODER,)

    def make_images(self, image_size):
        return ChameleonImages(self.model, self.processor, image_size, self.path)

    def make_layout(self):
        return chameleon_layout(self.model, self.processor, self.images, self.path)

    @staticmethod
    def train_logits(model, input_ids, pixels):
        """`lm_head` over the decoder's output, image tokens included (the forward masks them)."""
        return model.lm_head(model.model(input_ids=input_ids).last_hidden_state)

    def draw_start(self, batch):
        out = self.model.model(input_ids=batch["input_ids"], use_cache=True)
        return self.model.lm_head(out.last_hidden_state[:, -1]), out.past_key_values

    def draw_step(self, ids, past):
        out = self.model.model(input_ids=ids[:, None], **{CACHE_KW: past}, use_cache=True)
        return self.model.lm_head(out.last_hidden_state[:, -1]), out.past_key_values
