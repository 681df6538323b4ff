"""Self-attention vs a window (CNN-like) vs an RNN: which tokens a token can have heard from after a few layers.

One layer of each kind lets position i read these positions of the layer below:

    "none"     self-attention without a mask: every position                 (n² query·key pairs, in parallel)
    "causal"   a decoder's self-attention: positions 0..i                    (n(n+1)/2 pairs, in parallel)
    "window"   a one-sided sliding window of w keys: i−w+1..i               (≤ n·w pairs, in parallel)
    "window2"  the article's two-sided window of w keys, like a convolution of kernel w:
               i−(w−1)//2..i+w//2                                            (≤ n·w pairs, in parallel)
    "rnn"      one recurrence step h_i = f(h_{i−1}, x_i): positions i−1 and i (n steps, one after another)

The attention kinds are exactly the playground's masks (`model.attention.build_mask`). Stacking layers
composes them, so after L layers position i has heard from i−L·left..i+L·right (an RNN's state after t
steps from i−t..i): a window needs ⌈(n−1)/left⌉ layers before the last token hears from the first, an RNN
n−1 steps that cannot run in parallel, self-attention one layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.attention import MASK_KINDS

KINDS: tuple[str, ...] = (*MASK_KINDS, "rnn")
REACH_KINDS = ("none", "causal", "window2", "window", "rnn")
REACH_LAYERS = 3


def _span(kind: str, window: int) -> tuple[float, float]:
    """(left, right): how far one layer of `kind` reads to the left and to the right of a position."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if kind in ("window", "window2") and window < 1:
        raise ValueError("window must be at least 1")
    return {
        "none": (math.inf, math.inf),
        "causal": (math.inf, 0),
        "window": (window - 1, 0),
        "window2": ((window - 1) // 2, window // 2),
        "rnn": (1, 0),
    }[kind]


def reach(kind: str, n: int, token: int, steps: int, window: int = 3) -> np.ndarray:
    """Which positions `token`'s vector depends on after `steps` layers (recurrence steps for "rnn"); step 0 is
    the input, where it depends on itself alone.  -> [pos] bool"""
    if not 0 <= token < n:
        raise ValueError(f"token must be between 0 and {n - 1}, got {token}")
    if steps < 0:
        raise ValueError("steps must be at least 0")
    left, right = _span(kind, window)
    j = np.arange(n)  # [pos]
    if steps == 0:
        return j == token  # [pos]  (0·∞ is not 0 in floating point)
    return (j >= token - steps * left) & (j <= token + steps * right)  # [pos]


def reach_table(kind: str, n: int, token: int, max_steps: int, window: int = 3) -> np.ndarray:
    """`reach` after 0, 1, …, max_steps layers, one row each.  -> [step, pos] bool"""
    return np.stack([reach(kind, n, token, s, window) for s in range(max_steps + 1)])


def steps_to_connect(kind: str, n: int, window: int = 3) -> int | None:
    """The fewest layers (steps, for "rnn") after which the last token depends on the first; None when it never
    does (a window that reads nothing to the left: w = 1, or w = 2 for the two-sided window)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    left, _ = _span(kind, window)
    if n == 1:
        return 0
    if left == 0:
        return None
    return 1 if math.isinf(left) else math.ceil((n - 1) / left)


@dataclass(frozen=True)
class Operations:
    """The work of one layer on n tokens."""

    pairs: int  # (query, key) dot products for attention; input combinations for an RNN (one per position)
    sequential: int  # steps that must run one after another (1: every position at once)


def operations(kind: str, n: int, window: int = 3) -> Operations:
    """The pairs one layer of `kind` computes over n tokens (n², n(n+1)/2, about n·w, n) and its sequential steps
    (1 for attention of any mask, n for an RNN)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    left, right = _span(kind, window)
    if kind == "rnn":
        return Operations(pairs=n, sequential=n)
    i = np.arange(n)  # [query_pos]
    first = np.maximum(0, i - left) if math.isfinite(left) else np.zeros(n)  # [query_pos]
    last = np.minimum(n - 1, i + right) if math.isfinite(right) else np.full(n, n - 1)  # [query_pos]
    return Operations(pairs=int((last - first + 1).sum()), sequential=1)


def reach_rows(n: int, window: int) -> list[tuple[str, int, int | None, int, int]]:
    """Per kind: (kind, positions one layer lets the last token read, layers until the last token has heard from
    the first (None: never), query·key pairs or updates per layer, steps that must run one after another)."""
    rows = []
    for kind in REACH_KINDS:
        ops = operations(kind, n, window)
        seen = int(reach_table(kind, n, n - 1, 1, window)[1].sum())
        rows.append((kind, seen, steps_to_connect(kind, n, window), ops.pairs, ops.sequential))
    return rows
