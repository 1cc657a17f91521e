"""Tasks as token sequences (docs/design.md §3), with a token-role map and loss only on the target.

    understanding: <bos> <boi> IMG <eoi> question <task:answer>        -> answer
    generation:    <bos> prompt <task:generate> <bog>                  -> codes <eog>
    proxy:         <bos> <boi> IMG <eoi> <task:segment|...> <bog>      -> target codes <eog>

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


@dataclass
class Item:
    ids: list[int]  # the whole sequence, target included
    roles: list[int]
    n_prefix: int  # positions >= n_prefix are targets (predicted from the position before)
    pixels: np.ndarray | None  # [P, p*p*3] float32 in [-1, 1], for an input image
    task: str  # "understanding" | "generation" | a proxy name


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


def understanding_item(vocab, in_codes, pixels, question, answer, vision_input) -> Item:
    ids, roles = _with_image(vocab, in_codes, vision_input)
    q = vocab.encode_words(question)
    ids += [*q, vocab[TASKS["answer"]]]
    roles += [ROLE_TEXT] * len(q) + [ROLE_TASK]
    n_prefix = len(ids)
    ids.append(vocab.encode_words(answer)[0])
    roles.append(ROLE_ANSWER)
    return Item(ids, roles, n_prefix, pixels, "understanding")


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
    the positions before it, so no attention mask is needed."""
    t = max(len(it.ids) for it in items)
    b = len(items)
    input_ids = torch.zeros(b, t, dtype=torch.long)
    targets = torch.full((b, t), -100, dtype=torch.long)
    roles = torch.zeros(b, t, dtype=torch.int8)
    pixels = torch.zeros(b, n_patches, patch_dim)
    for i, it in enumerate(items):
        n = len(it.ids)
        ids = torch.tensor(it.ids)
        input_ids[i, :n] = ids
        roles[i, :n] = torch.tensor(it.roles, dtype=torch.int8)
        # targets[t] is the token at t+1, for target positions only
        targets[i, it.n_prefix - 1 : n - 1] = ids[it.n_prefix :]
        if it.pixels is not None:
            pixels[i] = torch.from_numpy(it.pixels)
    return {"input_ids": input_ids, "targets": targets, "roles": roles, "pixels": pixels}
