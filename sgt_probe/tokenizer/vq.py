"""A VQ visual tokenizer: a k-means codebook over non-overlapping image patches.

An image of size S with patch size p becomes P = (S/p)^2 codes in row-major patch order; each
code indexes a codebook row of p*p*3 values in 0..1 (RGB, the patch's pixels row-major).
The codebook is snapped to the uint8 grid, so `decode` returns code values exactly and encoding
a decoded image gives its codes back (barring exactly duplicated codes).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

# Patches per distance matmul in `encode`: [chunk, K] float32 is 16 MiB at K=256; larger chunks
# were no faster.
_ENCODE_CHUNK = 16384


def patchify(images: np.ndarray, patch_size: int) -> np.ndarray:
    """uint8 [N, H, W, 3] -> uint8 [N, P, p*p*3], patches row-major, pixels row-major inside."""
    n, h, w, c = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of patch size {p}")
    x = images.reshape(n, h // p, p, w // p, p, c)  # [N, gh, p, gw, p, C]
    x = x.transpose(0, 1, 3, 2, 4, 5)  # [N, gh, gw, p, p, C]
    return x.reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: np.ndarray, image_size: int, patch_size: int) -> np.ndarray:
    """[N, P, p*p*3] -> [N, S, S, 3]; the inverse of `patchify` for square images."""
    n = patches.shape[0]
    p, g = patch_size, image_size // patch_size
    x = patches.reshape(n, g, g, p, p, 3)  # [N, gh, gw, p, p, C]
    x = x.transpose(0, 1, 3, 2, 4, 5)  # [N, gh, p, gw, p, C]
    return x.reshape(n, image_size, image_size, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, MAX = 255, of uint8 images [N, H, W, 3] (or one image
    [H, W, 3]): computed per image, then averaged over the batch. Identical images count 100 dB
    so that one perfect image does not make the mean infinite."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, *np.shape(a)[-3:])
    b = np.asarray(b, dtype=np.float64).reshape(a.shape)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    db = np.where(mse > 0, 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12)), 100.0)
    return float(db.mean())


class VQTokenizer:
    """Codebook over p x p RGB patches, fitted with MiniBatchKMeans (seeded).

    Learned state: `codebook_` float32 [K, p*p*3], values on the uint8 grid divided by 255.
    """

    kind = "kmeans"

    def __init__(self, n_codes: int = 256, patch_size: int = 4, seed: int = 0) -> None:
        self.n_codes = n_codes
        self.patch_size = patch_size
        self.seed = seed
        self.codebook_: np.ndarray | None = None

    @property
    def patch_dim(self) -> int:
        return self.patch_size * self.patch_size * 3

    def fit(self, images: np.ndarray) -> VQTokenizer:
        # imported here: scikit-learn takes ~3 s to import, which every process that only
        # encodes with a fitted codebook (tuning, its workers) would pay for nothing
        from sklearn.cluster import MiniBatchKMeans

        x = patchify(np.asarray(images, dtype=np.uint8), self.patch_size)
        x = x.reshape(-1, self.patch_dim).astype(np.float32) / 255.0  # [N*P, D]
        km = MiniBatchKMeans(
            n_clusters=self.n_codes,
            random_state=self.seed,
            batch_size=8192,
            n_init=1,
            # No random reassignment of small clusters: the default (0.01 of the largest
            # cluster's count) keeps evicting the codes of rare map patterns (edge corners,
            # class boundaries), because flat map patches make a few clusters huge; with it
            # off, held-out edge-map PSNR went from 17 to 23 dB.
            reassignment_ratio=0.0,
        )
        km.fit(x)
        self.codebook_ = (np.round(km.cluster_centers_ * 255.0) / 255.0).astype(np.float32)
        return self

    def _codebook(self) -> torch.Tensor:
        if self.codebook_ is None:
            raise RuntimeError("VQTokenizer is not fitted; call fit() or from_state_dict()")
        return torch.from_numpy(self.codebook_)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> int64 [N, P], the nearest code (squared L2) of each patch."""
        cb = self._codebook()  # [K, D]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2 with x = pixels / 255; |x|^2 is the same for every
        # code, so it is left out (which also keeps float32 values small), and 1/255 is folded
        # into the weights so that one addmm per chunk does the rest.
        cb_sq = (cb * cb).sum(dim=1)  # [K]
        weight = cb.T * (-2.0 / 255.0)  # [D, K]
        patches = patchify(np.asarray(images, dtype=np.uint8), self.patch_size)
        n, p, d = patches.shape
        flat = torch.from_numpy(patches.reshape(n * p, d))  # [N*P, D] uint8
        codes = torch.empty(n * p, dtype=torch.int64)
        for start in range(0, n * p, _ENCODE_CHUNK):
            x = flat[start : start + _ENCODE_CHUNK].float()  # [chunk, D], 0..255
            codes[start : start + _ENCODE_CHUNK] = torch.addmm(cb_sq, x, weight).argmin(dim=1)
        return codes.reshape(n, p).numpy()

    def decode(self, codes: np.ndarray, image_size: int) -> np.ndarray:
        """int [N, P] -> uint8 [N, S, S, 3]."""
        codes = np.asarray(codes, dtype=np.int64)
        g = image_size // self.patch_size
        if codes.shape[-1] != g * g:
            raise ValueError(f"{codes.shape[-1]} codes do not make a {image_size}px image")
        cb = self._codebook().numpy()
        patches = np.round(cb[codes] * 255.0).astype(np.uint8)  # [N, P, D]
        return unpatchify(patches, image_size, self.patch_size)

    def fingerprint(self) -> str:
        """A digest of the codebook: equal for tokenizers that encode alike."""
        return hashlib.sha1(self._codebook().numpy().tobytes()).hexdigest()

    def hyper(self) -> dict:
        return {"kind": self.kind, "n_codes": self.n_codes, "patch_size": self.patch_size,
                "seed": self.seed}  # fmt: skip

    def state_dict(self) -> dict:
        """Plain ints and one tensor: safe for `torch.load(weights_only=True)`."""
        return {**self.hyper(), "codebook": self._codebook().clone()}

    @classmethod
    def from_state_dict(cls, d: dict) -> VQTokenizer:
        tok = cls(n_codes=int(d["n_codes"]), patch_size=int(d["patch_size"]), seed=int(d["seed"]))
        codebook = torch.as_tensor(d["codebook"], dtype=torch.float32).numpy()
        if codebook.shape != (tok.n_codes, tok.patch_dim):
            raise ValueError(
                f"codebook shape {tuple(codebook.shape)} does not match "
                f"{tok.n_codes} codes of {tok.patch_dim} values"
            )
        tok.codebook_ = codebook.copy()
        return tok
