"""The two answers to "how does the model know the order?": sinusoidal positional encoding, added to the token
vectors ("Attention Is All You Need", section 3.5), and rotary position embedding (RoPE, Llama), which turns q and k.

    PE[pos, 2i]   = sin(pos / base^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / base^(2i / d_model))

Each pair of dimensions is one sinusoid with its own wavelength, from 2π up to base·2π, so every
position gets a distinct pattern of values in [-1, 1]. An odd d_model ends on a sine.

    RoPE: θᵢ = base^(−2i / d_head),  i = 0 … d_head/2 − 1
          (x_i, x_{i+d/2}) at position m  ->  rotated by the angle m·θᵢ

Each pair of a head's q (and of its k) turns by its own angle per position, in the pair layout of Hugging Face's
Llama (dimension i goes with i + d_head/2). A rotation keeps lengths, and rotating q by m·θ and k by n·θ leaves
q·k depending on m − n only: the score sees how far apart two tokens are. The inverse turns back by −m·θ, so the
unrotated q and k come back exactly from the rotated ones a trace keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
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


def rotary_angles(positions: torch.Tensor, d_head: int, base: float) -> torch.Tensor:
    """m·θᵢ for every position m and pair i, in float32 as transformers' Llama computes them.
    [pos] -> [pos, d_head/2]"""
    if d_head < 2 or d_head % 2:
        raise ValueError("d_head must be even")
    if base <= 1:
        raise ValueError("base must be greater than 1")
    theta = 1.0 / (base ** (torch.arange(0, d_head, 2, dtype=torch.float32, device=positions.device) / d_head))
    return positions.float()[:, None] * theta[None, :]  # [pos, d_head/2]


def rotary(
    x: torch.Tensor, positions: torch.Tensor | Sequence[int], base: float, *, inverse: bool = False
) -> torch.Tensor:
    """x with each pair (x_i, x_{i+d/2}) at position m turned by m·θᵢ (by −m·θᵢ when inverse).  [..., pos, d_head]"""
    d_head = x.shape[-1]
    angle = rotary_angles(torch.as_tensor(positions, device=x.device), d_head, base)  # [pos, d_head/2]
    cos = torch.cat((angle.cos(), angle.cos()), dim=-1)  # [pos, d_head]
    sin = torch.cat((angle.sin(), angle.sin()), dim=-1)  # [pos, d_head]
    if inverse:
        sin = -sin
    first, second = x[..., : d_head // 2], x[..., d_head // 2 :]  # [..., pos, d_head/2] each
    return x * cos + torch.cat((-second, first), dim=-1) * sin  # [..., pos, d_head]


def rotary_np(
    x: np.ndarray, positions: Sequence[int] | np.ndarray, base: float, *, inverse: bool = False
) -> np.ndarray:
    """`rotary` on a trace's numpy arrays (float32): inverse=True gives back the q or k before RoPE.
    [..., pos, d_head]"""
    rotated = rotary(
        torch.from_numpy(np.array(x, dtype=np.float32)), torch.as_tensor(np.asarray(positions)), base, inverse=inverse
    )
    return rotated.numpy()


def encoding_similarity(pe: np.ndarray) -> np.ndarray:
    """Dot product of every two positions' encodings.  [pos, d_model] -> [pos, pos]"""
    pe = np.asarray(pe, dtype=np.float64)
    return (pe @ pe.T).astype(np.float32)  # [pos, pos]


def wavelength(dim: int, d_model: int, base: float) -> float:
    """The period, in positions, of dimension `dim`: 2π·base^(2i/d_model) for the pair i = dim // 2."""
    return 2 * math.pi * base ** ((dim - dim % 2) / d_model)


def rope_shift_scores(
    q: np.ndarray, k: np.ndarray, m: int, n: int, base: float, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RoPE's promise in numbers: the score of a query at position m + s and a key at n + s, for every shift s,
    and, for contrast, with only the query moved (m + s and n). q, k: [d_head], before rotation.

    R(a)q · R(b)k = q · R(b − a)k: a rotation's angle is position × θᵢ, so only the offset b − a is left. The
    first series is flat, the second is not.  -> ([shift], [shift]), each q·k/√d_head"""
    d = q.shape[-1]
    both = rotary_np(np.stack([q] * len(shifts)), m + shifts, base) * rotary_np(
        np.stack([k] * len(shifts)), n + shifts, base
    )
    moved = rotary_np(np.stack([q] * len(shifts)), m + shifts, base) * rotary_np(k[None], [n], base)
    return both.sum(-1) / math.sqrt(d), moved.sum(-1) / math.sqrt(d)  # [shift] each


def rope_circle(x: np.ndarray, pair: int, positions: np.ndarray, base: float) -> np.ndarray:
    """Where one pair of a vector's numbers (x_i, x_{i + d/2}) goes at each position: it turns by position × θᵢ
    on a circle, its length unchanged.  x: [d_head] before rotation -> [pos, 2]"""
    d = x.shape[-1]
    turned = rotary_np(np.stack([x] * len(positions)), positions, base)  # [pos, d_head]
    return turned[:, [pair, pair + d // 2]]
