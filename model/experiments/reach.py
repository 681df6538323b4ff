"""Self-attention vs a window (CNN-like) vs an RNN: which tokens a token can have heard from after a few layers.

One layer of each kind lets position i read these positions of the layer below:

    "none"     self-attention without a mask: every position                 (n² query·key pairs, in parallel)
    "causal"   a decoder's self-attention: positions 0..i                    (n(n+1)/2 pairs, in parallel)
    "window"   a one-sided sliding window of w keys: i−w+1..i               (≤ n·w pairs, in parallel)
    "window2"  the article's two-sided window of w keys, like a convolution of kernel w:
               i−(w−1)//2..i+w//2                                            (≤ n·w pairs, in parallel)
    "rnn"      one recurrence step h_i = f(h_{i−1}, x_i): positions i−1 and i (n steps, one after another)

The attention kinds are exactly the playground's masks (`model.attention.build_mask`). Stacking layers
composes them, so after L layers position i has heard from i−L·left..i+L·right: a window needs ⌈(n−1)/left⌉
layers before the last token hears from the first (left = w − 1 one-sided, ⌊(w − 1)/2⌋ two-sided, so w = 2 never
connects both ways and w = 4 takes three times the one-sided count), self-attention one. An RNN joins the first
and the last token within one layer, but through n − 1 recurrence steps one after another: its path is n − 1 long
where self-attention's is 1 (Vaswani et al. 2017, Table 1: maximum path length O(n) against O(1)).

Work per layer on n tokens of width d, in the orders Vaswani et al.'s Table 1 gives: an attention layer computes its
query·key pairs, d multiply-adds each (n²·d for self-attention); an RNN does n updates, each a d × d matrix times a
vector (n·d²). Self-attention is the cheaper of the two while n < d.
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


def path_length(kind: str, n: int, window: int = 3) -> int | None:
    """The fewest hops along which the last token hears from the first: layers for attention, recurrence steps for
    "rnn"; None when it never does (a window that reads nothing to the left: w = 1, or w ≤ 2 two-sided)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    left, _ = _span(kind, window)
    if n == 1:
        return 0
    if left == 0:
        return None
    return 1 if math.isinf(left) else math.ceil((n - 1) / left)


def layers_to_connect(kind: str, n: int, window: int = 3) -> int | None:
    """The fewest layers after which the last token has heard from the first: an RNN's one layer runs all its
    steps (its path is still n − 1 long); for attention, one hop a layer (`path_length`)."""
    if kind == "rnn":
        return 0 if n == 1 else 1
    return path_length(kind, n, window)


@dataclass(frozen=True)
class Operations:
    """The work of one layer on n tokens of width d."""

    pairs: int  # (query, key) dot products for attention; updates for an RNN (one per position)
    multiply_adds: int  # pairs·d for attention (a dot product of d numbers each); n·d² for an RNN (W·h each step)
    sequential: int  # steps that must run one after another (1: every position at once)


def operations(kind: str, n: int, window: int = 3, d: int = 64) -> Operations:
    """The pairs one layer of `kind` computes over n tokens (n², n(n+1)/2, about n·w, n), its multiply-adds at width
    d (pairs·d; n·d² for an RNN) and its sequential steps (1 for attention of any mask, n for an RNN)."""
    if n < 1 or d < 1:
        raise ValueError("n and d must be at least 1")
    left, right = _span(kind, window)
    if kind == "rnn":
        return Operations(pairs=n, multiply_adds=n * d * d, sequential=n)
    i = np.arange(n)  # [query_pos]
    first = np.maximum(0, i - left) if math.isfinite(left) else np.zeros(n)  # [query_pos]
    last = np.minimum(n - 1, i + right) if math.isfinite(right) else np.full(n, n - 1)  # [query_pos]
    pairs = int((last - first + 1).sum())
    return Operations(pairs=pairs, multiply_adds=pairs * d, sequential=1)


@dataclass(frozen=True)
class ReachRow:
    """One kind's line of the reach table."""

    kind: str
    seen: int  # positions one layer lets the last token read
    layers: int | None  # layers until the last token has heard from the first (None: never)
    path: int | None  # hops between them: layers for attention, n − 1 recurrence steps for an RNN
    pairs: int  # query·key pairs, or an RNN's updates, per layer
    multiply_adds: int  # per layer, at width d
    sequential: int  # steps that must run one after another


def reach_rows(n: int, window: int, d: int = 64) -> list[ReachRow]:
    """Every kind of REACH_KINDS over n tokens of width d, with a window of `window` keys."""
    rows = []
    for kind in REACH_KINDS:
        ops = operations(kind, n, window, d)
        seen = int(reach_table(kind, n, n - 1, 1, window)[1].sum())
        layers, path = layers_to_connect(kind, n, window), path_length(kind, n, window)
        rows.append(ReachRow(kind, seen, layers, path, ops.pairs, ops.multiply_adds, ops.sequential))
    return rows


def cheaper(n: int, d: int) -> str:
    """Which does less work per layer on n tokens of width d: "attention" (n²·d < n·d², i.e. n < d), "rnn", or
    "equal"."""
    return "attention" if n < d else "rnn" if n > d else "equal"
