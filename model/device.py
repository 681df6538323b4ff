"""Choosing where the model runs: an explicit argument, else $ATTENTION_LAB_DEVICE, else the best found."""

from __future__ import annotations

import os

import torch

DEVICE_ENV = "ATTENTION_LAB_DEVICE"


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA if available, then Apple MPS, else CPU; `requested` or the environment variable override it."""
    name = requested or os.environ.get(DEVICE_ENV) or ""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
