"""One vocabulary for everything the model reads or writes: specials, task tokens, words, codes.

Layout (ids): specials, then task tokens, then the world's words (sorted), then the VQ codes
`<c0> .. <cK-1>` as one contiguous block so generation can restrict logits to a slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPECIALS = ("<pad>", "<unk>", "<bos>", "<boi>", "<eoi>", "<bog>", "<eog>", "<img>")
TASKS = {
    "answer": "<task:answer>",
    "caption": "<task:describe>",
    "generate": "<task:generate>",
    "segmentation": "<task:segment>",
    "depth": "<task:depth>",
    "edge": "<task:edge>",
    "reconstruction": "<task:reconstruct>",
    "inpainting": "<task:inpaint>",
}


@dataclass(frozen=True)
class Vocab:
    tokens: tuple[str, ...]
    n_codes: int

    @classmethod
    def build(cls, words: list[str], n_codes: int) -> Vocab:
        reserved = set(SPECIALS) | set(TASKS.values())
        clash = sorted(w for w in words if w in reserved or w.startswith("<c"))
        if clash:
            raise ValueError(f"world words clash with reserved tokens: {clash[:5]}")
        codes = tuple(f"<c{i}>" for i in range(n_codes))
        return cls(SPECIALS + tuple(TASKS.values()) + tuple(sorted(set(words))) + codes, n_codes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, token: str) -> int:
        return self._ids[token]

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    @property
    def code_offset(self) -> int:
        return len(self.tokens) - self.n_codes

    def encode_words(self, text: str) -> list[int]:
        try:
            return [self._ids[w] for w in text.split(" ") if w]
        except KeyError as e:
            raise ValueError(f"word {e.args[0]!r} is not in the model's vocabulary") from None

    def decode(self, ids) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "n_codes": self.n_codes}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(tuple(d["tokens"]), int(d["n_codes"]))

    def save_hf_tokenizer(self, directory: str | Path):
        """Write and reload a word-level HF tokenizer.

        TransformerBridge needs a tokenizer loaded from disk: one built only in memory fails
        with KeyError 'name_or_path' (docs/design.md §3).
        """
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        tk = Tokenizer(models.WordLevel(vocab=dict(self._ids), unk_token="<unk>"))
        tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<bos>"
        )
        fast.save_pretrained(str(directory))
        return PreTrainedTokenizerFast.from_pretrained(str(directory))
