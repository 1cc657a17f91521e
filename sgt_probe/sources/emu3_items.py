"""Emu3's images and prompt layout (`hf_items` holds what the architectures share).

    understanding: <bos> USER: IMAGE question ASSISTANT:                 -> answer
    dialogue:      <bos> USER: IMAGE q1 ASSISTANT: -> a1  USER: q2 ASSISTANT: -> a2 ...
    caption:       <bos> USER: IMAGE describe the image ASSISTANT:       -> caption
    generation:    <bos> prompt HEADER                                   -> ROWS <eof> <eoi>
    proxy:         <bos> USER: IMAGE draw the ... ASSISTANT: HEADER      -> ROWS <eof> <eoi>

IMAGE is the block the processor lays out for an image (`<|image start|>` h*w
`<|image token|>`, h rows of w visual tokens each closed by an end-of-row token, `<eof>`,
`<|image end|>`), with the VQ-VAE's codes in place of the processor's placeholders, exactly as
the model substitutes them; HEADER is the block's opening, which the processor also writes
for image generation. The end-of-row tokens the model draws are generated positions.
"""

from __future__ import annotations

import numpy as np
import torch

from sgt_probe.checkpoint import CheckpointError
from sgt_probe.sources.hf_items import DESCRIBE, INSTRUCTIONS, Layout, ProcessorImages, Prompts

USER = "USER: "
NEXT_USER = " USER: "
CUE = " ASSISTANT:"  # what precedes an answer in Emu3-Chat's prompts
PROMPTS = Prompts(user=USER, cue=CUE, next_user=NEXT_USER)
__all__ = ["CUE", "DESCRIBE", "INSTRUCTIONS", "NEXT_USER", "USER", "Emu3Images", "emu3_layout"]


class Emu3Images(ProcessorImages):
    """Emu3's processor (resize to its pixel budget, normalize) and VQ-VAE (8x down)."""

    def __init__(self, model, processor, image_size: int, path, batch_size: int = 32):
        self.processor = processor
        vq = model.model.vqmodel
        blank = np.zeros((image_size, image_size, 3), np.uint8)
        h, w = (int(v) for v in processor.image_processor(images=[blank])["image_sizes"][0])
        factor = vq.vision_spatial_factor
        if h != w:
            raise CheckpointError(
                f"{path}: its processor resizes a {image_size}-pixel square image to {h}x{w}, "
                f"not a square multiple of the VQ-VAE's {factor}"
            )
        super().__init__(vq, image_size, h, factor, path, batch_size)

    def _preprocess(self, images):
        return self.processor.image_processor(images=images, return_tensors="pt")

    def _encode(self, feats):
        pixels = feats["pixel_values"].to(self.device, self.vq.dtype)
        return torch.stack(self.vq.encode(pixels, feats["image_sizes"]).image_tokens).flatten(1)

    def _decode(self, codes):
        return self.vq.decode(codes.view(len(codes), self.grid, self.grid))

    def _postprocess(self, pixels):
        return self.processor.postprocess(list(pixels),
                                          return_tensors="PIL.Image.Image")["pixel_values"]  # fmt: skip


def emu3_layout(model, processor, images: Emu3Images, path) -> Layout:
    """Emu3's prompts around the image block its processor lays out for a world image, the
    visual tokens of the VQ codes taken from the model's own mapping."""
    tok = processor.tokenizer
    mapping = model.vocabulary_mapping
    size, grid = images.image_size, images.grid
    blank = np.zeros((size, size, 3), np.uint8)  # laid out as a world image is
    ids = processor(images=[blank], text=[tok.image_token])["input_ids"][0]
    start = ids.index(tok.convert_tokens_to_ids(tok.boi_token))
    end = ids.index(tok.convert_tokens_to_ids(tok.eoi_token))
    block = list(ids[start : end + 1])  # placeholders where the codes (and row ends) go
    placeholder = tok.image_token_id
    if block.count(placeholder) != grid * (grid + 1):
        raise CheckpointError(
            f"{path}: its processor lays out {block.count(placeholder)} image tokens, its "
            f"VQ-VAE {grid}x{grid} codes and their row ends"
        )
    visual = mapping.img2bpe_mapping_tensor.long()  # visual token id of each VQ code
    return Layout(tok, PROMPTS, block, placeholder, grid, visual, visual,
                  eol=mapping.eol_token_id)  # fmt: skip
