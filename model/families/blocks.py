"""The arithmetic every model family shares, written once: norms, linear maps, splitting a layer's q, k, v into
heads and joining the heads again, activations, and the one knob the importance experiment turns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


Params = dict[str, torch.Tensor]


def layer_norm(x: torch.Tensor, params: Params, prefix: str, eps: float) -> torch.Tensor:
    """(x − mean) / √(var + eps) · γ + β over the last axis; γ, β are `prefix`.weight and .bias."""
    return F.layer_norm(x, x.shape[-1:], params[prefix + ".weight"], params[prefix + ".bias"], eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x / √(mean(x²) + eps) · γ over the last axis (no centring, no bias), as Llama does."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def linear(x: torch.Tensor, params: Params, prefix: str, bias: bool = True) -> torch.Tensor:
    """x·Wᵀ + b with W stored [out, in] as nn.Linear stores it."""
    return F.linear(x, params[prefix + ".weight"], params[prefix + ".bias"] if bias else None)


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[pos, n_heads * d_head] -> [head, pos, d_head]"""
    n_pos, width = x.shape
    return x.view(n_pos, n_heads, width // n_heads).transpose(0, 1)


def merge_heads(z: torch.Tensor) -> torch.Tensor:
    """The heads' outputs side by side, the input of W^O: [head, pos, d_head] -> [pos, head * d_head]"""
    n_heads, n_pos, d_head = z.shape
    return z.transpose(0, 1).reshape(n_pos, n_heads * d_head)


@dataclass(frozen=True)
class Ablation:
    """Remove one key from one head: its value vector becomes zero in that layer, so the head's output for
    every query loses that key's share (α′ is left as it was). The attention-vs-importance experiment
    re-runs the model once per key with this."""

    layer: int
    head: int
    key: int

    def apply(self, layer: int, v: torch.Tensor) -> torch.Tensor:
        """v with this key's value zeroed in this head, when `layer` is the ablated one.  # [head, pos, d_head]"""
        if layer != self.layer:
            return v
        v = v.clone()
        v[self.head, self.key] = 0.0
        return v
