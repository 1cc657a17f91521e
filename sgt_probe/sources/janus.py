"""A Hugging Face `JanusForConditionalGeneration` directory (Janus, Janus-Pro) behind the
`ModelSource` protocol.

Janus decouples how it reads images from how it draws them. It reads an image through a SigLIP
encoder and an aligner, whose features replace the embeddings of the processor's placeholders
(`<image_placeholder>`, between `<begin_of_image>` and `<end_of_image>`); it draws an image as
the codes of a separate VQ model, predicted by a generation head on the decoder's residual
stream, each drawn code fed back through generation embeddings and an aligner. So:

- an item's input image is the processor's placeholder block, and the item carries the
  processed pixels (one row of floats per image position: the `[3, S, S]` pixel values
  reshaped), from which every forward computes the vision features of the model at hand;
- the proxy target and the generation benchmark's images are the VQ model's codes, written as
  ids past the text vocabulary (`V + code`), so one id sequence holds both: an id below V is
  embedded by the decoder's table and predicted by `lm_head`, one from V on by the generation
  embeddings and the generation head (`train_logits`);
- prompts follow Janus-Pro's chat layout, `<|User|>: IMAGE\\nquestion\\n\\n<|Assistant|>:`,
  and a generation is `<|User|>: prompt\\n\\n<|Assistant|>:<begin_of_image>` then the codes.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import JanusForConditionalGeneration, JanusProcessor

from sgt_probe.capture.bridge import HookedRunner
from sgt_probe.checkpoint import CheckpointError
from sgt_probe.model.generate import CACHE_KW
from sgt_probe.model.sequences import ROLE_IMAGE
from sgt_probe.sources.hf import HFSource
from sgt_probe.sources.hf_items import Layout, PixelValueImages, Prompts

USER = "<|User|>: "
CUE = "\n\n<|Assistant|>:"
PROMPTS = Prompts(user=USER, after_image="\n", cue=CUE, next_user="\n\n" + USER,
                  gen_user=USER, gen_cue=CUE, special=("<|User|>", "<|Assistant|>"))  # fmt: skip


def vq_factor(vq) -> int:
    """The VQ model's downsampling: one halving per resolution level but the last."""
    return 2 ** (len(vq.config.channel_multiplier) - 1)


class JanusImages(PixelValueImages):
    """Janus's image processor (resize and pad to a square, normalize) for both the vision
    encoder and the generation VQ model, whose grids must agree (24 x 24 for 384 pixels)."""

    def __init__(self, model, processor, image_size: int, path, batch_size: int = 32):
        self.ip = processor.image_processor
        vq, vision = model.model.vqmodel, model.config.vision_config
        side = int(self.ip.size["height"])
        if self.ip.size["width"] != side:
            raise CheckpointError(f"{path}: its image processor's size is not square")
        super().__init__(vq, image_size, side, vq_factor(vq), path, batch_size)
        patches = vision.image_size // vision.patch_size
        if vision.image_size != side or patches != self.grid:
            raise CheckpointError(
                f"{path}: its vision encoder reads {vision.image_size}-pixel images as "
                f"{patches}x{patches} patches, its VQ model the processor's {side} pixels as "
                f"{self.grid}x{self.grid} codes; they must agree"
            )
        if processor.num_image_tokens != self.grid**2:
            raise CheckpointError(
                f"{path}: its processor lays out {processor.num_image_tokens} image tokens, "
                f"its vision encoder {self.grid**2}"
            )
        self.patch_dim = 3 * side * side // self.grid**2

    def _decode(self, codes):
        return self.vq.decode(codes)

    def _postprocess(self, pixels):
        return self.ip.postprocess(list(pixels), return_tensors="PIL.Image.Image")["pixel_values"]

    def pixels(self, images: np.ndarray) -> np.ndarray:
        """float32 [N, P, 3 S^2 / P]: the processor's pixel values of each image, one row per
        image position (`JanusSource.embed` reshapes them back to [3, S, S])."""
        out = [self._preprocess(list(chunk)).float() for chunk in self._chunks(images)]
        return torch.cat(out).reshape(len(images), self.grid**2, -1).numpy()


def janus_layout(model, processor, images: JanusImages, path) -> Layout:
    tok = processor.tokenizer
    size = images.image_size
    blank = np.zeros((size, size, 3), np.uint8)
    ids = processor(images=[blank], text=[processor.image_token])["input_ids"][0]
    ids = [int(t) for t in ids]
    start = ids.index(tok.convert_tokens_to_ids(processor.image_start_token))
    end = ids.index(tok.convert_tokens_to_ids(processor.image_end_token))
    placeholder = model.config.image_token_id
    if tok.convert_tokens_to_ids(processor.image_token) != placeholder:
        raise CheckpointError(
            f"{path}: its tokenizer's {processor.image_token} is not the model's image token "
            f"{placeholder}"
        )
    n_text = model.config.text_config.vocab_size
    codes = torch.arange(n_text, n_text + model.config.vq_config.num_embeddings)
    # a drawn image ends with its last code: the generation head draws exactly P of them
    return Layout(tok, PROMPTS, ids[start : end + 1], placeholder, images.grid, codes, None,
                  tail=[])  # fmt: skip


class JanusRunner(HookedRunner):
    """The bridge reads the decoder's token embeddings; the input embeddings of image and code
    positions, which Janus computes beside that table, are injected at `hook_embed`."""

    def __init__(self, bridge, grid, embed, n_text: int):
        super().__init__(bridge, grid, embed)
        self.n_text = n_text

    def _token_ids(self, batch):
        ids = batch["input_ids"]
        return ids.masked_fill(ids >= self.n_text, 0)  # their embeddings are replaced

    def _embeds(self, batch):
        return bool(((batch["roles"] == ROLE_IMAGE) | (batch["input_ids"] >= self.n_text)).any())


class JanusSource(HFSource):
    kind = "janus"
    model_class = JanusForConditionalGeneration
    processor_class = JanusProcessor
    lora_targets = r".*language_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"

    def make_images(self, image_size):
        return JanusImages(self.model, self.processor, image_size, self.path)

    def make_layout(self):
        return janus_layout(self.model, self.processor, self.images, self.path)

    @property
    def n_text(self) -> int:
        return self.model.config.text_config.vocab_size

    @staticmethod
    def embed(model, input_ids: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """The decoder's input embeddings [B, T, d], as Janus makes them: the token table for
        text, the vision encoder's aligned features at the image placeholders (from the item's
        pixels), the generation embeddings and aligner at drawn codes (ids from V on)."""
        n_text = model.config.text_config.vocab_size
        is_code = input_ids >= n_text
        emb = model.get_input_embeddings()(input_ids.masked_fill(is_code, 0))
        if is_code.any():
            gen = model.prepare_embeddings_for_image_generation(input_ids[is_code] - n_text)
            emb = emb.masked_scatter(is_code[..., None], gen.to(emb.dtype))
        image = input_ids == model.config.image_token_id
        rows = image.any(1)
        if rows.any():
            vision = model.config.vision_config
            side = vision.image_size
            px = pixels[rows].reshape(int(rows.sum()), 3, side, side).to(emb.dtype)
            feats = model.model.get_image_features(px).pooler_output
            emb = emb.masked_scatter(image[..., None], feats.to(emb.dtype))
        return emb

    def _hidden(self, batch: dict, **kw):
        emb = self.embed(self.model, batch["input_ids"], batch["pixels"])
        return self.model.model.language_model(inputs_embeds=emb, **kw)

    def logits(self, batch):
        """`lm_head` over the decoder's output: the text logits Janus's forward gives."""
        return self.model.lm_head(self._hidden(batch).last_hidden_state)

    @staticmethod
    def train_logits(model, input_ids, pixels):
        """[B, T, V + K]: where the next id is a code, the generation head's logits over the K
        codes (the text ones masked), elsewhere `lm_head`'s over the V text tokens (the codes
        masked); a cross-entropy over them is Janus's, each head on its own tokens."""
        emb = JanusSource.embed(model, input_ids, pixels)
        hidden = model.model.language_model(inputs_embeds=emb).last_hidden_state
        text, gen = model.lm_head(hidden), model.model.generation_head(hidden)
        n_text = model.config.text_config.vocab_size
        next_code = torch.zeros_like(input_ids, dtype=torch.bool)
        next_code[:, :-1] = input_ids[:, 1:] >= n_text
        low = torch.finfo(text.dtype).min
        return torch.cat([text.masked_fill(next_code[..., None], low),
                          gen.masked_fill(~next_code[..., None], low)], dim=-1)  # fmt: skip

    def draw_start(self, batch):
        out = self._hidden(batch, use_cache=True)
        head = self.model.model.generation_head(out.last_hidden_state[:, -1])
        return head, out.past_key_values

    def draw_step(self, codes, past):
        emb = self.model.prepare_embeddings_for_image_generation(codes)[:, None]
        out = self.model.model.language_model(inputs_embeds=emb, **{CACHE_KW: past},
                                              use_cache=True)  # fmt: skip
        return self.model.model.generation_head(out.last_hidden_state[:, -1]), out.past_key_values

    def draw_tokens(self):
        # the generation head's logits are over the codes themselves, and draw_step reads codes
        return torch.arange(self.model.config.vq_config.num_embeddings)

    def token_texts(self, ids) -> list[str]:
        return [f"<image {int(i) - self.n_text}>" if int(i) >= self.n_text
                else self.processor.tokenizer.decode([int(i)]) for i in ids]  # fmt: skip

    def hooked_runner(self, bridge):
        model = self.model
        return JanusRunner(bridge, self.grid,
                           lambda b: self.embed(model, b["input_ids"], b["pixels"]), self.n_text)  # fmt: skip
