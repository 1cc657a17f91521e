"""Tasks as token sequences (docs/design.md §3), with a token-role map and loss only on the target.

    understanding: <bos> <boi> IMG <eoi> question <task:answer>        -> answer
    dialogue:      <bos> <boi> IMG <eoi> q1 <task:answer> -> a1  q2 <task:answer> -> a2 ...
    caption:       <bos> <boi> IMG <eoi> <task:describe>               -> caption words
    generation:    <bos> prompt <task:generate> <bog>                  -> codes <eog>
    proxy:         <bos> <boi> IMG <eoi> <task:segment|...> <bog>      -> target codes <eog>

A dialogue asks every question of a scene after one image: each answer token is a training
target, so one pass over the image's 64 positions trains several answers (evaluation asks one
question per sequence, which is a dialogue's first turn).

IMG is P `<img>` placeholders whose embeddings the patch encoder supplies (vision_input
"patch") or the P VQ codes of the input image (vision_input "vq"). The role of every position
is recorded so capture and attention statistics select positions without knowing the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sgt_probe.model.vocab import TASKS, Vocab
from sgt_probe.tokenizer.vq import patchify

# Token roles. Text = question or prompt words; image = input-image positions; generated =
# image codes the model writes (and <eog>); answer = the answer word.
ROLE_PAD, ROLE_SPECIAL, ROLE_IMAGE, ROLE_TEXT, ROLE_ANSWER, ROLE_GENERATED, ROLE_TASK = range(7)
# Positions whose token is predicted (from the position before): answers, caption words, and
# generated image codes. Everything else is context.
TARGET_ROLES = (ROLE_ANSWER, ROLE_GENERATED)


@dataclass
class Item:
    ids: list[int]  # the whole sequence, target included
    roles: list[int]
    n_prefix: int  # the first target position (the answer of a one-question item)
    pixels: np.ndarray | None  # [P, p*p*3] float32 in [-1, 1], for an input image
    task: str  # "understanding" | "caption" | "generation" | a proxy name


def n_targets(item: Item) -> int:
    """How many of the item's positions are predicted (the loss's token count)."""
    return sum(r in TARGET_ROLES for r in item.roles)


def patch_pixels(images: np.ndarray, patch: int) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, P, patch*patch*3] in [-1, 1], patches row-major."""
    return patchify(images, patch).astype(np.float32) / 127.5 - 1.0


def _image_span(vocab: Vocab, codes: np.ndarray, vision_input: str) -> list[int]:
    if vision_input == "vq":
        return [vocab.code_offset + int(c) for c in codes]
    return [vocab["<img>"]] * len(codes)


def _with_image(vocab: Vocab, codes: np.ndarray, vision_input: str) -> tuple[list, list]:
    span = _image_span(vocab, codes, vision_input)
    ids = [vocab["<bos>"], vocab["<boi>"], *span, vocab["<eoi>"]]
    roles = [ROLE_SPECIAL, ROLE_SPECIAL] + [ROLE_IMAGE] * len(span) + [ROLE_SPECIAL]
    return ids, roles


def dialogue_item(vocab, in_codes, pixels, turns: list[tuple[str, str]], vision_input) -> Item:
    """One image, then each (question, answer) turn in order; every answer is a target."""
    ids, roles = _with_image(vocab, in_codes, vision_input)
    n_prefix = None
    for question, answer in turns:
        q = vocab.encode_words(question)
        ids += [*q, vocab[TASKS["answer"]]]
        roles += [ROLE_TEXT] * len(q) + [ROLE_TASK]
        n_prefix = n_prefix or len(ids)
        ids.append(vocab.encode_words(answer)[0])
        roles.append(ROLE_ANSWER)
    return Item(ids, roles, n_prefix, pixels, "understanding")


def understanding_item(vocab, in_codes, pixels, question, answer, vision_input) -> Item:
    return dialogue_item(vocab, in_codes, pixels, [(question, answer)], vision_input)


def caption_item(vocab, in_codes, pixels, caption: str, vision_input) -> Item:
    """The image, then `<task:describe>`, then the caption's words as targets."""
    ids, roles = _with_image(vocab, in_codes, vision_input)
    ids.append(vocab[TASKS["caption"]])
    roles.append(ROLE_TASK)
    n_prefix = len(ids)
    words = vocab.encode_words(caption)
    return Item(ids + words, roles + [ROLE_ANSWER] * len(words), n_prefix, pixels, "caption")


def _codes_target(vocab: Vocab, codes: np.ndarray) -> tuple[list, list]:
    ids = [vocab.code_offset + int(c) for c in codes] + [vocab["<eog>"]]
    return ids, [ROLE_GENERATED] * len(ids)


def generation_item(vocab, prompt: str, target_codes) -> Item:
    p = vocab.encode_words(prompt)
    ids = [vocab["<bos>"], *p, vocab[TASKS["generate"]], vocab["<bog>"]]
    roles = [ROLE_SPECIAL] + [ROLE_TEXT] * len(p) + [ROLE_TASK, ROLE_SPECIAL]
    n_prefix = len(ids)
    t_ids, t_roles = _codes_target(vocab, target_codes) if target_codes is not None else ([], [])
    return Item(ids + t_ids, roles + t_roles, n_prefix, None, "generation")


def proxy_item(vocab, proxy, in_codes, pixels, target_codes, vision_input) -> Item:
    ids, roles = _with_image(vocab, in_codes, vision_input)
    ids += [vocab[TASKS[proxy]], vocab["<bog>"]]
    roles += [ROLE_TASK, ROLE_SPECIAL]
    n_prefix = len(ids)
    t_ids, t_roles = _codes_target(vocab, target_codes) if target_codes is not None else ([], [])
    return Item(ids + t_ids, roles + t_roles, n_prefix, pixels, proxy)


def collate(items: list[Item], n_patches: int, patch_dim: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest item. Causal attention means padding at the end never changes
    the positions before it, so no attention mask is needed. `targets[b, t]` is the token at
    t + 1 where that position has a target role (else -100, ignored by the loss)."""
    t = max(len(it.ids) for it in items)
    b = len(items)
    input_ids = torch.zeros(b, t, dtype=torch.long)
    targets = torch.full((b, t), -100, dtype=torch.long)
    roles = torch.zeros(b, t, dtype=torch.int8)
    pixels = torch.zeros(b, n_patches, patch_dim)
    for i, it in enumerate(items):
        n = len(it.ids)
        ids = torch.tensor(it.ids)
        role = torch.tensor(it.roles, dtype=torch.int8)
        input_ids[i, :n] = ids
        roles[i, :n] = role
        is_target = torch.isin(role[1:], torch.tensor(TARGET_ROLES, dtype=torch.int8))
        targets[i, : n - 1] = torch.where(is_target, ids[1:], -100)
        if it.pixels is not None:
            pixels[i] = torch.from_numpy(it.pixels)
    return {"input_ids": input_ids, "targets": targets, "roles": roles, "pixels": pixels}
