"""`DataSpec`: everything needed to rebuild a world exactly; stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

WORLDS = ("shapes", "digits", "folder")


@dataclass(frozen=True)
class DataSpec:
    world: str = "shapes"
    seed: int = 0
    image_size: int = 32
    path: str | None = None  # only for world="folder"

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ValueError(f"unknown world {self.world!r}; choose one of {', '.join(WORLDS)}")
        if self.world == "folder" and not self.path:
            raise ValueError("world 'folder' needs a path (--path DIR)")
        if self.image_size % 4 or self.image_size < 16:
            raise ValueError(f"image_size must be a multiple of 4 and >= 16, got {self.image_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
