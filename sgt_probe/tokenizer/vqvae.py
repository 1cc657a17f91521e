"""A learned VQ tokenizer (VQ-VAE, van den Oord et al. 2017): a small conv encoder turns each
p x p region into one of K codes, and a conv decoder draws the image back from the code grid.

Why learned: the k-means codebook (`vq.py`) decodes every patch on its own, so an object two
patches wide loses its silhouette (the generation judge read the wrong shape for 40% of the
objects in VQ-decoded ground truth). The decoder here sees each code's neighbours and draws
edges across patch borders. Codes are l2-normalised and matched by cosine similarity, which
keeps the whole codebook in use (ViT-VQGAN, Yu et al. 2022); unused codes are restarted from
encoder outputs while training. The pixel loss weighs saturated pixels (the objects; the
backgrounds are near gray) `object_weight` times more, so codes are spent on what a judge
reads rather than on background noise. Same interface as `VQTokenizer`.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_CHUNK = 256  # images per encode/decode pass


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 1)
        )

    def forward(self, x):
        return x + self.net(x)


class _Net(nn.Module):
    def __init__(self, n_codes: int, patch_size: int, channels: int, code_dim: int):
        super().__init__()
        n_down = int(np.log2(patch_size))
        c = channels
        down = [nn.Conv2d(3, c, 3, padding=1)]
        for _ in range(n_down):  # each halves the side: patch_size = 2 ** n_down
            down += [nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1)]
        self.encoder = nn.Sequential(*down, _Res(c), _Res(c), nn.ReLU(), nn.Conv2d(c, code_dim, 1))
        up = [nn.Conv2d(code_dim, c, 3, padding=1), _Res(c), _Res(c)]
        for _ in range(n_down):
            up += [nn.ReLU(), nn.ConvTranspose2d(c, c, 4, 2, 1)]
        self.decoder = nn.Sequential(*up, nn.ReLU(), nn.Conv2d(c, 3, 3, padding=1))
        self.codebook = nn.Parameter(torch.randn(n_codes, code_dim))

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> [B, g, g, D] unit vectors."""
        return F.normalize(self.encoder(x).permute(0, 2, 3, 1), dim=-1)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """[..., D] unit vectors -> [...] index of the most similar code."""
        return (z @ F.normalize(self.codebook, dim=-1).T).argmax(-1)

    def draw(self, codes: torch.Tensor) -> torch.Tensor:
        """[B, g, g] codes -> [B, 3, S, S] in [-1, 1] (unclamped)."""
        q = F.normalize(self.codebook, dim=-1)[codes]  # [B, g, g, D]
        return self.decoder(q.permute(0, 3, 1, 2))


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> float [N, 3, S, S] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


class VQVAETokenizer:
    """Learned state: `net_` (encoder, decoder and codebook), fitted by `fit`."""

    kind = "vqvae"

    def __init__(self, n_codes: int = 512, patch_size: int = 4, seed: int = 0,
                 channels: int = 96, code_dim: int = 32, steps: int = 2500,
                 batch_size: int = 64, lr: float = 2e-3, object_weight: float = 3.0):  # fmt: skip
        if patch_size < 2 or patch_size & (patch_size - 1):
            raise ValueError(f"a VQ-VAE patch size must be a power of two >= 2, got {patch_size}")
        self.n_codes, self.patch_size, self.seed = n_codes, patch_size, seed
        self.channels, self.code_dim = channels, code_dim
        self.steps, self.batch_size, self.lr, self.object_weight = (
            steps,
            batch_size,
            lr,
            object_weight,
        )
        self.net_: _Net | None = None

    def _build(self) -> _Net:
        return _Net(self.n_codes, self.patch_size, self.channels, self.code_dim)

    def fit(self, images: np.ndarray, progress: bool = False) -> VQVAETokenizer:
        """Train on uint8 [N, S, S, 3] images: pixel loss (squared + 0.1 absolute error, saturated
        pixels weighted) plus the VQ codebook and commitment (0.25) terms; cosine lr decay."""
        from tqdm.auto import tqdm

        torch.manual_seed(self.seed)
        net = self._build()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        usage = torch.zeros(self.n_codes)
        for step in tqdm(range(self.steps), desc="fit VQ-VAE", disable=not progress, leave=False):
            for g in opt.param_groups:
                g["lr"] = self.lr * (0.1 + 0.45 * (1 + np.cos(np.pi * step / self.steps)))
            pick = torch.randint(len(images), (self.batch_size,), generator=gen).numpy()
            x = _to_tensor(images[pick])
            z = net.latents(x)  # [B, g, g, D]
            codes = net.nearest(z)
            q = F.normalize(net.codebook, dim=-1)[codes]
            vq_loss = F.mse_loss(q, z.detach()) + 0.25 * F.mse_loss(z, q.detach())
            # straight-through: the decoder's gradient reaches the encoder as if unquantized
            out = net.decoder((z + (q - z).detach()).permute(0, 3, 1, 2))
            saturation = x.max(1, keepdim=True).values - x.min(1, keepdim=True).values
            weight = 1 + self.object_weight * saturation.clamp(min=0)
            err = out - x
            loss = (weight * (err**2 + 0.1 * err.abs())).mean() + vq_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            usage = 0.99 * usage + 0.01 * torch.bincount(codes.flatten(), minlength=self.n_codes)
            if step % 100 == 99 and step < 0.8 * self.steps:
                dead = (usage < 0.01).nonzero()[:, 0]
                if len(dead):  # restart unused codes at random encoder outputs of this batch
                    pool = z.detach().reshape(-1, self.code_dim)
                    rows = torch.randint(len(pool), (len(dead),), generator=gen)
                    with torch.no_grad():
                        net.codebook[dead] = pool[rows]
                    usage[dead] = 1.0
        self.net_ = net.eval()
        return self

    def _net(self) -> _Net:
        if self.net_ is None:
            raise RuntimeError("VQVAETokenizer is not fitted; call fit() or from_state_dict()")
        return self.net_

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> int64 [N, P], P = (S / patch_size)^2, row-major."""
        net, images = self._net(), np.asarray(images, dtype=np.uint8)
        out = [net.nearest(net.latents(_to_tensor(images[s : s + _CHUNK]))).flatten(1)
               for s in range(0, len(images), _CHUNK)]  # fmt: skip
        return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.int64)

    @torch.no_grad()
    def decode(self, codes: np.ndarray, image_size: int) -> np.ndarray:
        """int [N, P] -> uint8 [N, S, S, 3]."""
        codes = np.asarray(codes, dtype=np.int64)
        g = image_size // self.patch_size
        if codes.shape[-1] != g * g:
            raise ValueError(f"{codes.shape[-1]} codes do not make a {image_size}px image")
        net, out = self._net(), []
        for s in range(0, len(codes), _CHUNK):
            x = net.draw(torch.from_numpy(codes[s : s + _CHUNK]).reshape(-1, g, g))
            out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1))
        return torch.cat(out).numpy()

    def fingerprint(self) -> str:
        """A digest of the learned weights: equal for tokenizers that encode alike."""
        h = hashlib.sha1()
        for t in self._net().state_dict().values():
            h.update(t.numpy().tobytes())
        return h.hexdigest()

    def hyper(self) -> dict:
        return {"kind": self.kind, "n_codes": self.n_codes, "patch_size": self.patch_size,
                "seed": self.seed, "channels": self.channels, "code_dim": self.code_dim}  # fmt: skip

    def state_dict(self) -> dict:
        """Plain ints and tensors: safe for `torch.load(weights_only=True)`."""
        weights = {k: v.clone() for k, v in self._net().state_dict().items()}
        return {**self.hyper(), "weights": weights}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """The state dict's tensor shapes, from a net built on the meta device (no memory)."""
        with torch.device("meta"):
            return {k: tuple(v.shape) for k, v in self._build().state_dict().items()}

    @classmethod
    def from_state_dict(cls, d: dict) -> VQVAETokenizer:
        tok = cls(n_codes=int(d["n_codes"]), patch_size=int(d["patch_size"]), seed=int(d["seed"]),
                  channels=int(d["channels"]), code_dim=int(d["code_dim"]))  # fmt: skip
        net = tok._build()
        net.load_state_dict(d["weights"])
        tok.net_ = net.eval()
        return tok
