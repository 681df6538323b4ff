"""Sinusoidal positional encoding ("Attention Is All You Need", section 3.5).

    PE[pos, 2i]   = sin(pos / base^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / base^(2i / d_model))

Each pair of dimensions is one sinusoid with its own wavelength, from 2π up to base·2π, so every
position gets a distinct pattern of values in [-1, 1]. An odd d_model ends on a sine.
"""

from __future__ import annotations

import torch


def sinusoidal_encoding(n_positions: int, d_model: int, base: float = 10_000.0) -> torch.Tensor:
    """The [pos, d_model] encoding table, float32."""
    if n_positions < 0 or d_model < 1:
        raise ValueError("n_positions must be >= 0 and d_model >= 1")
    if base <= 1:
        raise ValueError("base must be greater than 1")
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]  # [pos, 1]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # [ceil(d_model / 2)]
    angle = pos / base ** (two_i / d_model)  # [pos, ceil(d_model / 2)]
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)  # [pos, d_model]
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.float()
