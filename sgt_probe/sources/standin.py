"""`sgt-probe standin emu3|janus|chameleon`: a tiny random Hugging Face unified-model directory,
to try the Hugging Face path offline.

Each is what a released directory of its architecture is (config.json, model.safetensors,
processor and tokenizer files), only small and untrained: a 4-layer decoder of width 64, image
models that read a world image at 64x64 pixels as 8x8 codes (the releases read 384 to 512 pixels
as 24x24 to 64x64), and a byte-level BPE tokenizer trained here on the generated worlds' words
and the architecture's prompt words, with its special tokens:

- **emu3**: Emu3's special tokens and one visual token per code (the vocabulary's last block);
- **janus**: Janus-Pro's special tokens, a SigLIP-style vision encoder of 8-pixel patches, a
  generation VQ model with its head and embeddings (its codes are not tokens of the vocabulary);
- **chameleon**: Chameleon's special tokens and one `IMGIMG...` token per code, and the VQ-GAN
  decoder transformers' port lacks (`vqgan_decoder.safetensors`).

The image tokenizer (the VQ model, and Chameleon's decoder) is the same for every seed, as each
family's releases share one: a seed draws a new decoder, the scenes stay the same tokens, so
stand-ins of two seeds compare.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    ChameleonConfig,
    ChameleonForConditionalGeneration,
    ChameleonImageProcessorPil,
    ChameleonProcessor,
    ChameleonVQVAE,
    ChameleonVQVAEConfig,
    Emu3Config,
    Emu3ForConditionalGeneration,
    Emu3ImageProcessor,
    Emu3Processor,
    Emu3TextConfig,
    Emu3VQVAE,
    Emu3VQVAEConfig,
    JanusConfig,
    JanusForConditionalGeneration,
    JanusImageProcessorPil,
    JanusProcessor,
    JanusVisionConfig,
    JanusVQVAE,
    JanusVQVAEConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

from sgt_probe.checkpoint import atomic_dir
from sgt_probe.data.spec import WORLDS, DataSpec
from sgt_probe.data.text import NUMBER_WORDS
from sgt_probe.sources import chameleon, emu3_items, janus
from sgt_probe.sources.hf import quiet
from sgt_probe.sources.hf_items import Prompts
from sgt_probe.sources.hfdir import CHAMELEON_DECODER, write_sidecar

KINDS = ("emu3", "janus", "chameleon")
# Emu3's special tokens (Emu3-Chat-hf's tokenizer names them so)
PAD, BOS, EOS = "<|endoftext|>", "<|extra_203|>", "<|extra_204|>"
EOL, EOF = "<|extra_200|>", "<|extra_201|>"
ROLES = {"image_token": "<image>", "boi_token": "<|image start|>",
         "eoi_token": "<|image end|>", "image_wrapper_token": "<|image token|>",
         "eof_token": EOF}  # fmt: skip
SPECIALS = [PAD, BOS, EOS, EOL, *ROLES.values()]
# Janus-Pro's
JANUS_PAD, JANUS_BOS, JANUS_EOS = "<｜▁pad▁｜>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
JANUS_ROLES = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
               "eoi_token": "<end_of_image>"}  # fmt: skip
# Chameleon-7b's
CHAMELEON_ROLES = {"image_token": "<image>", "boi_token": "<racm3:break>", "eoi_token": "<eoss>"}
N_CODES = 256
SIDE = 64  # the processors read every image at SIDE x SIDE pixels: 8 x 8 codes
BPE_MERGES = 1200  # enough that every world word (with and without a leading space) is one token
VQ_SEED = 1234  # one image tokenizer for every seed (see the module docstring)
WIDTH = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
         "num_attention_heads": 4, "max_position_embeddings": 512}  # fmt: skip


def visual_token(code: int) -> str:
    return f"<|visual token {code:06d}|>"


def chameleon_image_token(code: int) -> str:
    """Chameleon's name of VQ code `code`: its digits as the letters A-J, between IMGIMG and Z
    (what `ChameleonImageVocabularyMapping` reads back)."""
    return "IMGIMG" + "".join(chr(ord("A") + int(d)) for d in str(code)) + "Z"


def _corpus(prompts: Prompts) -> list[str]:
    """Every word the generated worlds and the architecture's prompts use, alone and after a
    space (the two forms a byte-level BPE sees), plus the digits and '*' of the image size."""
    from sgt_probe.data import make_world

    words = set(NUMBER_WORDS)
    for world in WORLDS:
        if world != "folder":
            words |= set(make_world(DataSpec(world=world)).words())
    for text in prompts.texts():
        for special in prompts.special:
            text = text.replace(special, " ")
        words |= set(text.split())
    return sorted(words) + [" " + w for w in sorted(words)] + ["0123456789*"]


def train_tokenizer(prompts: Prompts, specials: list[str], added: list[str],
                    **special_tokens) -> PreTrainedTokenizerFast:  # fmt: skip
    """A byte-level BPE trained on `_corpus(prompts)` with `specials` first and `added` (image
    tokens) last, one contiguous block, as in the releases' vocabularies."""
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + len(specials) + BPE_MERGES, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tk.train_from_iterator(_corpus(prompts), trainer)
    if added:
        tk.add_special_tokens(added)
    return PreTrainedTokenizerFast(tokenizer_object=tk, **special_tokens)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Emu3's: its special tokens, then one visual token per code."""
    return train_tokenizer(emu3_items.PROMPTS, SPECIALS, [visual_token(i) for i in range(N_CODES)],
                           bos_token=BOS, eos_token=EOS, pad_token=PAD,
                           extra_special_tokens=ROLES)  # fmt: skip


def build_config(vocab: dict[str, int]) -> Emu3Config:
    text = Emu3TextConfig(
        vocab_size=len(vocab), num_key_value_heads=2, **WIDTH,
        pad_token_id=vocab[PAD], bos_token_id=vocab[BOS], eos_token_id=vocab[EOS],
    )  # fmt: skip
    # Four stages: the 8x downsampling Emu3's processor assumes. A temporal factor of 1: a
    # still image is not repeated into a 4-frame clip, which is 9x faster on a CPU.
    vq = Emu3VQVAEConfig(
        codebook_size=N_CODES, embed_dim=4, latent_channels=4, base_channels=32,
        channel_multiplier=[1, 1, 1, 1], num_res_blocks=1, attn_resolutions=[],
        temporal_downsample_factor=1, hidden_size=32, num_attention_heads=1,
    )  # fmt: skip
    config = Emu3Config(text_config=text, vq_config=vq, vocabulary_map=vocab)
    config.architectures = ["Emu3ForConditionalGeneration"]
    return config


def _emu3(seed: int):
    tokenizer = build_tokenizer()
    processor = Emu3Processor(Emu3ImageProcessor(min_pixels=SIDE * SIDE, max_pixels=SIDE * SIDE),
                              tokenizer)  # fmt: skip
    config = build_config(tokenizer.get_vocab())
    torch.manual_seed(seed)
    model = Emu3ForConditionalGeneration(config).eval()
    torch.manual_seed(VQ_SEED)
    model.model.vqmodel.load_state_dict(Emu3VQVAE(config.vq_config).state_dict())
    return model, processor, {}


def _janus(seed: int):
    specials = [JANUS_PAD, JANUS_BOS, JANUS_EOS, *JANUS_ROLES.values(), *janus.PROMPTS.special]
    tokenizer = train_tokenizer(janus.PROMPTS, specials, [], bos_token=JANUS_BOS,
                                eos_token=JANUS_EOS, pad_token=JANUS_PAD,
                                extra_special_tokens=JANUS_ROLES)  # fmt: skip
    vocab = tokenizer.get_vocab()
    grid = SIDE // 8
    text = LlamaConfig(vocab_size=len(vocab), num_key_value_heads=4, **WIDTH,
                       pad_token_id=vocab[JANUS_PAD], bos_token_id=vocab[JANUS_BOS],
                       eos_token_id=vocab[JANUS_EOS])  # fmt: skip
    vision = JanusVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               image_size=SIDE, patch_size=8, projection_dim=WIDTH["hidden_size"],
                               depth=2, num_image_tokens=grid * grid, mlp_ratio=2.0)  # fmt: skip
    # four levels: 8x down, the vision encoder's 8-pixel patches (Janus: 16x, 16 pixels)
    vq = JanusVQVAEConfig(embed_dim=4, num_embeddings=N_CODES, latent_channels=4,
                          base_channels=32, channel_multiplier=[1, 1, 1, 1], num_res_blocks=1,
                          projection_dim=WIDTH["hidden_size"],
                          image_token_embed_dim=WIDTH["hidden_size"])  # fmt: skip
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq,
                         image_token_id=vocab[JANUS_ROLES["image_token"]])  # fmt: skip
    config.architectures = ["JanusForConditionalGeneration"]
    image_processor = JanusImageProcessorPil(size={"height": SIDE, "width": SIDE},
                                             image_mean=[0.5] * 3, image_std=[0.5] * 3)  # fmt: skip
    processor = JanusProcessor(image_processor, tokenizer, num_image_tokens=grid * grid)
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(config).eval()
    torch.manual_seed(VQ_SEED)
    model.model.vqmodel.load_state_dict(JanusVQVAE(config.vq_config).state_dict())
    return model, processor, {}


def _chameleon(seed: int):
    specials = ["<pad>", "<s>", "</s>", *CHAMELEON_ROLES.values(), chameleon.SEP]
    tokenizer = train_tokenizer(chameleon.PROMPTS, specials,
                                [chameleon_image_token(i) for i in range(N_CODES)],
                                bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                sep_token=chameleon.SEP,
                                extra_special_tokens=CHAMELEON_ROLES)  # fmt: skip
    vocab = tokenizer.get_vocab()
    vq = ChameleonVQVAEConfig(embed_dim=4, num_embeddings=N_CODES, latent_channels=4,
                              resolution=SIDE, base_channels=32, channel_multiplier=[1, 1, 1, 1],
                              num_res_blocks=1, attn_resolutions=[])  # fmt: skip
    config = ChameleonConfig(vocab_size=len(vocab), num_key_value_heads=4, **WIDTH,
                             pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"],
                             eos_token_id=vocab["</s>"], vocabulary_map=vocab,
                             vq_config=vq)  # fmt: skip
    config.architectures = ["ChameleonForConditionalGeneration"]
    image_processor = ChameleonImageProcessorPil(size={"shortest_edge": SIDE},
                                                 crop_size={"height": SIDE, "width": SIDE})  # fmt: skip
    processor = ChameleonProcessor(image_processor, tokenizer, image_seq_length=(SIDE // 8) ** 2)
    torch.manual_seed(seed)
    model = ChameleonForConditionalGeneration(config).eval()
    torch.manual_seed(VQ_SEED)
    model.model.vqmodel.load_state_dict(ChameleonVQVAE(config.vq_config).state_dict())
    decoder = chameleon.VQGANDecoder(config.vq_config)
    return model, processor, {CHAMELEON_DECODER: decoder.state_dict()}


BUILDERS = {"emu3": _emu3, "janus": _janus, "chameleon": _chameleon}


def write_standin(out: str | Path, seed: int = 0, kind: str = "emu3") -> Path:
    """Write the stand-in directory of architecture `kind` at `out` (atomically); returns
    `out`."""
    model, processor, files = BUILDERS[kind](seed)
    with atomic_dir(out) as tmp, quiet():
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for name, state in files.items():
            save_file({k: v.contiguous() for k, v in state.items()}, tmp / name)
        write_sidecar(tmp, {"stage": "base", "proxy": None, "seed": seed, "step": 0,
                            "made_by": f"sgt-probe standin {kind}"})  # fmt: skip
    return Path(out)
