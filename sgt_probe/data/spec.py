"""`DataSpec`: everything needed to rebuild a world exactly; stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

WORLDS = ("shapes", "digits", "folder")
# The largest scene side: a 1024-pixel scene's arrays hold ~50 MB, and every command renders
# hundreds of scenes (a larger side, say from a crafted model record, would exhaust memory).
MAX_IMAGE_SIZE = 1024


@dataclass(frozen=True)
class DataSpec:
    world: str = "shapes"
    seed: int = 0
    image_size: int = 32
    path: str | None = None  # only for world="folder"
    # only for world="folder": the share of its images held out for eval and probes (the
    # generated worlds hold out disjoint index ranges instead; see `World.split`)
    eval_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ValueError(f"unknown world {self.world!r}; choose one of {', '.join(WORLDS)}")
        if self.world == "folder" and not self.path:
            raise ValueError("world 'folder' needs a path (--path DIR)")
        if self.image_size % 4 or not 16 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size must be a multiple of 4 in 16..{MAX_IMAGE_SIZE}, "
                             f"got {self.image_size!r}")  # fmt: skip
        if not 0 < self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be between 0 and 1, got {self.eval_fraction}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
