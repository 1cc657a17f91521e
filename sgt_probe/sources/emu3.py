"""A Hugging Face `Emu3ForConditionalGeneration` directory behind the `ModelSource` protocol.

Images are VQ codes in the shared vocabulary, written row by row, each row closed by an
end-of-row token (`emu3_items`); one Llama-shaped decoder reads and draws them. Everything the
architectures share is `hf.HFSource`.
"""

from __future__ import annotations

from transformers import Emu3ForConditionalGeneration, Emu3Processor

from sgt_probe.model.generate import CACHE_KW
from sgt_probe.sources.emu3_items import Emu3Images, emu3_layout
from sgt_probe.sources.hf import HFSource


class Emu3Source(HFSource):
    kind = "emu3"
    model_class = Emu3ForConditionalGeneration
    processor_class = Emu3Processor
    lora_targets = r".*text_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"

    def make_images(self, image_size):
        return Emu3Images(self.model, self.processor, image_size, self.path)

    def make_layout(self):
        return emu3_layout(self.model, self.processor, self.images, self.path)

    def draw_start(self, batch):
        res = self.model(input_ids=batch["input_ids"], use_cache=True, logits_to_keep=1)
        return res.logits[:, -1], res.past_key_values

    def draw_step(self, ids, past):
        res = self.model(input_ids=ids[:, None], **{CACHE_KW: past}, use_cache=True)
        return res.logits[:, -1], res.past_key_values
