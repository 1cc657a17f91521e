"""The device a command runs on when the user names none: the GPU when there is one."""

from __future__ import annotations

import torch


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
