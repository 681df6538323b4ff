"""Scaled dot-product attention written out step by step, and the masks it can use.

    scores  = q · kᵀ / √d_head                  (the "÷√d" step is optional: scale=False)
    α′      = normalize(mask(scores) / T)       normalize is softmax, or ReLU then divide by the row sum
    z       = α′ · v                            each output row is a weighted sum of value rows

Every function works on any leading batch axes (`...`), so one call handles all heads at once. The torch
functions run inside the models' forward passes; `attention_np` is the same formula in numpy, with which a
trace computes its scores and weights from the q and k it keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Normalizer = Literal["softmax", "relu"]
MaskKind = Literal["none", "causal", "window", "window2"]
NORMALIZERS: tuple[str, ...] = ("softmax", "relu")
MASK_KINDS: tuple[str, ...] = ("none", "causal", "window", "window2")


def build_mask(kind: str, n_positions: int, window: int = 3, device=None) -> torch.Tensor | None:
    """Which keys each query may see, True = visible; None when every key is visible.

    causal: query i sees keys j <= i. window: query i sees the `window` keys ending at itself,
    i - window < j <= i (sliding-window attention as used by decoder models). window2: the article's
    two-sided window, `window` keys centred on the query, i - (window-1)//2 <= j <= i + window//2 (an even
    width puts its extra key on the right, as a "same"-padded convolution of that kernel size does).
    Near the ends of the text a window holds fewer keys.
    """
    if kind == "none":
        return None
    i = torch.arange(n_positions, device=device)[:, None]  # [query_pos, 1]
    j = torch.arange(n_positions, device=device)[None, :]  # [1, key_pos]
    if kind == "causal":
        return j <= i  # [query_pos, key_pos]
    if kind in ("window", "window2") and window < 1:
        raise ValueError("window must be at least 1")
    if kind == "window":
        return (j <= i) & (j > i - window)  # [query_pos, key_pos]
    if kind == "window2":
        return (j >= i - (window - 1) // 2) & (j <= i + window // 2)  # [query_pos, key_pos]
    raise ValueError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS}")


def decoder_mask(queries: torch.Tensor, n_keys: int, window: int | None = None, device=None) -> torch.Tensor:
    """Which keys 0 … n_keys−1 each query at an absolute position may see in a decoder: those at or before it, and
    with a sliding window of w only the w ending at it (i − w < j ≤ i). True = visible.  queries: [query] ->
    [query, key]. A whole text's square mask is decoder_mask(arange(n), n); a generation step's one row is
    decoder_mask(tensor([t]), t + 1)."""
    i = torch.as_tensor(queries, device=device)[:, None]  # [query, 1]
    j = torch.arange(n_keys, device=i.device)[None, :]  # [1, key]
    visible = j <= i  # [query, key]
    if window is not None:
        if window < 1:
            raise ValueError("window must be at least 1")
        visible = visible & (j > i - window)
    return visible


def normalize(
    scores: torch.Tensor,
    mask: torch.Tensor | None = None,
    normalizer: str = "softmax",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Turn scores into weights α′ whose visible entries in each row sum to 1.

    ReLU keeps positive scores and divides by their sum. A row with no positive visible score has
    no evidence for any key, so it spreads its weight evenly over the visible keys. Temperature
    divides the scores first; ReLU followed by a division is unchanged by it.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    if temperature != 1.0:  # dividing by 1 changes nothing but costs a pass over every score
        scores = scores / temperature  # [..., query_pos, key_pos]
    if normalizer == "softmax":
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))  # [..., query_pos, key_pos]
        return torch.softmax(scores, dim=-1)  # [..., query_pos, key_pos]
    if normalizer == "relu":
        visible = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.expand_as(scores)
        kept = torch.relu(scores) * visible  # [..., query_pos, key_pos]
        total = kept.sum(dim=-1, keepdim=True)  # [..., query_pos, 1]
        even = visible / visible.sum(dim=-1, keepdim=True)  # [..., query_pos, key_pos]
        return torch.where(total > 0, kept / total.clamp_min(1e-30), even)
    raise ValueError(f"unknown normalizer {normalizer!r}; expected one of {NORMALIZERS}")


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    normalizer: str = "softmax",
    scale: float | None = None,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attention of every query over every key; returns (z, scores, weights).

    q, k: [..., pos, d_head]; v: [..., pos, d_v]; mask: [query_pos, key_pos] bool, True = visible.
    scale multiplies q·kᵀ: None is 1/√d_head, 1.0 leaves the scores unscaled. scores are scale·q·kᵀ *before*
    the mask, so a view can show what the mask removes.
    """
    scores = q @ k.transpose(-2, -1)  # [..., query_pos, key_pos]
    factor = _factor(scale, q.shape[-1])
    if factor != 1.0:
        scores.mul_(factor)  # [..., query_pos, key_pos]  in place: fresh from the matmul
    weights = normalize(scores, mask, normalizer, temperature)  # [..., query_pos, key_pos]
    z = weights @ v  # [..., query_pos, d_v]
    return z, scores, weights


def attention_np(
    q: np.ndarray,
    k: np.ndarray,
    mask: np.ndarray | None = None,
    normalizer: str = "softmax",
    scale: float | None = None,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, weights) from q and k in numpy, in q's precision: the torch functions above, step for step.

    q: [..., query_pos, d_head], k: [..., key_pos, d_head], mask: [query_pos, key_pos] bool, True = visible.
    scores are scale·q·kᵀ (scale None: 1/√d_head) before the mask; weights follow `normalize`'s rules.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    scores = q @ np.swapaxes(k, -1, -2)  # [..., query_pos, key_pos]
    factor = _factor(scale, q.shape[-1])
    if factor != 1.0:
        scores *= np.asarray(factor, dtype=scores.dtype)
    logits = scores / temperature if temperature != 1.0 else scores  # [..., query_pos, key_pos]
    visible = np.ones(scores.shape[-2:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if normalizer == "softmax":
        logits = np.where(visible, logits, -np.inf)  # [..., query_pos, key_pos]
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))  # exp(−∞) = 0 for hidden keys
        weights = e / e.sum(axis=-1, keepdims=True)
    elif normalizer == "relu":
        kept = np.maximum(logits, 0) * visible  # [..., query_pos, key_pos]
        total = kept.sum(axis=-1, keepdims=True)  # [..., query_pos, 1]
        even = np.broadcast_to(visible / visible.sum(axis=-1, keepdims=True), kept.shape).astype(kept.dtype)
        weights = np.where(total > 0, kept / np.where(total > 0, total, 1), even)
    else:
        raise ValueError(f"unknown normalizer {normalizer!r}; expected one of {NORMALIZERS}")
    return scores, weights.astype(scores.dtype, copy=False)


def default_scale(d_head: int) -> float:
    """1/√d_head, what scaled dot-product attention multiplies q·kᵀ by."""
    return 1.0 / math.sqrt(d_head)


def _factor(scale: float | None, d_head: int) -> float:
    """The number q·kᵀ is multiplied by: `scale`, or 1/√d_head for None. A yes/no is refused: 1 would be 1.0."""
    if isinstance(scale, bool):
        raise TypeError("scale is a number (1/√d_head, or 1.0 for no scaling) or None for 1/√d_head, not a bool")
    return default_scale(d_head) if scale is None else float(scale)


@dataclass(frozen=True)
class AttentionRule:
    """How one layer turns its q and k into α′: α′ = normalize(mask(scale · q·kᵀ) / T).

    Each layer carries its own rule, because layers of one model can differ: Gemma 3's sliding-window layers see
    512 keys back and turn q and k with RoPE base 10 000, its global layers see every earlier key with base 10⁶.
    Recomputing a layer's α′ from its q, k and this rule gives what the forward pass computed.
    """

    mask: np.ndarray | None = None  # [query_pos, key_pos] bool, True = visible; None: every key visible
    window: int | None = None  # the sliding window's width (keys a query sees, itself included), where it has one
    normalizer: str = "softmax"  # or "relu" (the playground's other choice)
    temperature: float = 1.0
    scale: float = 1.0  # what multiplies q·kᵀ: 1/√d_head in scaled dot-product attention, 1 when unscaled
    rope_base: float | None = None  # RoPE's base θ where the layer turns q and k by position; None: no RoPE

    def __post_init__(self) -> None:
        if self.normalizer not in NORMALIZERS:
            raise ValueError(f"unknown normalizer {self.normalizer!r}; expected one of {NORMALIZERS}")
        if not self.temperature > 0:
            raise ValueError("temperature must be positive")
        if not self.scale > 0:
            raise ValueError("scale must be positive")

    @classmethod
    def from_mask(cls, mask: torch.Tensor | None, **rest: object) -> AttentionRule:
        """A rule whose mask is a read-only numpy copy of a torch mask."""
        if mask is None:
            return cls(**rest)
        visible = mask.cpu().numpy().copy()
        visible.flags.writeable = False
        return cls(mask=visible, **rest)

    @property
    def scaled(self) -> bool:
        """Whether q·kᵀ is multiplied by something other than 1 (the "÷√d" step)."""
        return self.scale != 1.0

    def visible(self, n_positions: int) -> np.ndarray:
        """Which keys each query sees.  # [query_pos, key_pos] bool"""
        return np.ones((n_positions, n_positions), dtype=bool) if self.mask is None else self.mask

    def torch_mask(self, device=None) -> torch.Tensor | None:
        """The mask as a torch tensor, for the forward pass's own function.  # [query_pos, key_pos] bool"""
        return None if self.mask is None else torch.from_numpy(self.mask.copy()).to(device)

    def attention_np(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, α′) of q and k by this rule, in q's precision.  q, k: [..., pos, d_head]"""
        return attention_np(q, k, self.mask, self.normalizer, self.scale, self.temperature)

    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """(z, scores, α′) by this rule with the forward passes' own torch function.  q, k, v: [..., pos, d_head]"""
        mask = self.torch_mask(q.device)
        return scaled_dot_product_attention(
            q, k, v, mask=mask, normalizer=self.normalizer, scale=self.scale, temperature=self.temperature
        )
