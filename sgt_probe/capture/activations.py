"""Residual-stream capture at positions chosen by token role, streamed to disk in shards.

A capture walks items in batches, caches only `blocks.{L}.hook_resid_post` for the asked
layers, keeps only positions of the asked role, and hands each batch to a sink: in memory, or
`ShardWriter`, which flushes float16 shards so memory stays flat however many samples there are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sgt_probe.capture.bridge import HookedRunner, resid_name
from sgt_probe.model.sequences import ROLE_IMAGE, Item

SHARD_ACTS = "acts_{:05d}.npy"  # float16 [L, n, d]
SHARD_META = "meta_{:05d}.npz"  # int arrays [n]
STORE_INFO = "store.json"


class ShardWriter:
    def __init__(self, directory: str | Path, layers: list[int], shard_rows: int = 8192):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.layers, self.shard_rows = list(layers), shard_rows
        self._acts: list[np.ndarray] = []
        self._meta: list[dict[str, np.ndarray]] = []
        self._rows, self.n_shards, self.n_rows = 0, 0, 0

    def add(self, acts: np.ndarray, meta: dict[str, np.ndarray]) -> None:
        self._acts.append(acts.astype(np.float16))
        self._meta.append(meta)
        self._rows += acts.shape[1]
        if self._rows >= self.shard_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._acts:
            return
        np.save(self.dir / SHARD_ACTS.format(self.n_shards), np.concatenate(self._acts, axis=1))
        keys = self._meta[0].keys()
        np.savez(
            self.dir / SHARD_META.format(self.n_shards),
            **{k: np.concatenate([m[k] for m in self._meta]) for k in keys},
        )
        self.n_shards += 1
        self.n_rows += self._rows
        self._acts, self._meta, self._rows = [], [], 0

    def close(self) -> ActivationStore:
        self._flush()
        info = {"layers": self.layers, "n_shards": self.n_shards, "n_rows": self.n_rows}
        (self.dir / STORE_INFO).write_text(json.dumps(info))
        return ActivationStore(self.dir)


class ActivationStore:
    """Read back a sharded capture: iterate shards, or load chosen layers whole."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        info_path = self.dir / STORE_INFO
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path}: missing; not a finished activation store")
        info = json.loads(info_path.read_text())
        self.layers, self.n_shards, self.n_rows = info["layers"], info["n_shards"], info["n_rows"]

    def shards(self) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        for i in range(self.n_shards):
            acts = np.load(self.dir / SHARD_ACTS.format(i), mmap_mode="r")
            with np.load(self.dir / SHARD_META.format(i), allow_pickle=False) as z:
                yield acts, {k: z[k] for k in z.files}

    def load(self, layers: list[int] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """float32 [L', N, d] for the chosen layers (default all), with the metadata."""
        rows = [self.layers.index(layer) for layer in (layers or self.layers)]
        acts, metas = [], []
        for a, m in self.shards():
            acts.append(np.asarray(a[rows], dtype=np.float32))
            metas.append(m)
        meta = {k: np.concatenate([m[k] for m in metas]) for k in metas[0]}
        return np.concatenate(acts, axis=1), meta


class MemorySink:
    def __init__(self) -> None:
        self.acts: list[np.ndarray] = []
        self.meta: list[dict[str, np.ndarray]] = []

    def add(self, acts: np.ndarray, meta: dict[str, np.ndarray]) -> None:
        self.acts.append(acts.astype(np.float32))
        self.meta.append(meta)

    def close(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        meta = {k: np.concatenate([m[k] for m in self.meta]) for k in self.meta[0]}
        return np.concatenate(self.acts, axis=1), meta


def capture_residuals(
    runner: HookedRunner,
    items: list[Item],
    layers: list[int],
    role: int = ROLE_IMAGE,
    sink=None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "capture",
):
    """Residual stream after each of `layers` at the positions of `role`.

    Returns the sink's result: (acts float32 [L, N, d], meta) in memory by default, or an
    `ActivationStore` for a `ShardWriter`. meta["item"] is the index into `items`,
    meta["position"] the token position, in item order then position order.
    """
    sink = sink if sink is not None else MemorySink()
    names = [resid_name(layer) for layer in layers]
    n_batches = -(-len(items) // batch_size)
    batches = runner.batches(items, batch_size)
    for s, _, batch in tqdm(batches, total=n_batches, desc=desc, disable=not progress, leave=False):
        _, cache = runner.run(batch, names)
        sel = batch["roles"] == role  # [B, T]
        stacked = torch.stack([cache[n][sel] for n in names])  # [L, n_sel, d]
        b_idx, pos = sel.nonzero(as_tuple=True)
        sink.add(
            stacked.float().cpu().numpy(),
            {"item": (b_idx + s).cpu().numpy(), "position": pos.cpu().numpy()},
        )
    return sink.close()
