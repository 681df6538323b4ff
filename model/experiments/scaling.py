"""Why scaled dot-product attention divides by √d: the spread of q·k grows with the head's width.

With q and k of d independent entries of mean 0 and variance 1, q·k = Σ_a q_a·k_a is a sum of d terms of
variance 1, so Var(q·k) = d: at d = 64 a typical score is ±8, and softmax over such scores gives nearly all
weight to one key (its gradient vanishes). Dividing by √d brings the variance back to 1 at every width.
This module draws such vectors (seeded) and measures both sides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_D_HEAD = 4096
MAX_DRAWS = 2**24  # numbers drawn for one width (n_queries · (n_keys + 1) · d_head): 64 MB of float32
BINS = 61  # histogram bins, over ±4 standard deviations of the unscaled scores


@dataclass(frozen=True)
class DotProductSpread:
    """q·k of random unit-variance vectors at one head width, unscaled and ÷√d_head, and what softmax makes of them."""

    d_head: int
    n_keys: int  # keys each query's softmax runs over
    unscaled: np.ndarray  # [n_queries * n_keys]  q·k
    scaled: np.ndarray  # [n_queries * n_keys]  q·k/√d_head
    var_unscaled: float  # ≈ d_head
    var_scaled: float  # ≈ 1
    max_weight_unscaled: float  # mean over queries of the largest α′ among n_keys (1/n_keys = even, 1 = one key)
    max_weight_scaled: float
    entropy_unscaled: float  # mean over queries of −Σ α′ ln α′, in nats (ln n_keys = even, 0 = one key)
    entropy_scaled: float


def _softmax_summary(scores: np.ndarray) -> tuple[float, float]:
    """(mean largest weight, mean entropy in nats) of softmax along the last axis.  scores: [query, key]"""
    shifted = scores - scores.max(axis=-1, keepdims=True)  # [query, key]
    weights = np.exp(shifted)
    total = weights.sum(axis=-1, keepdims=True)  # [query, 1]
    weights /= total
    log_weights = shifted - np.log(total)  # [query, key]  ln α′, exact even where α′ underflows to 0
    entropy = -(weights * log_weights).sum(axis=-1)  # [query]
    return float(weights.max(axis=-1).mean()), float(entropy.mean())


def dot_product_spread(d_head: int, *, n_queries: int = 1000, n_keys: int = 16, seed: int = 0) -> DotProductSpread:
    """Draw n_queries queries and n_keys keys per query, all entries N(0, 1), and measure q·k at width d_head.

    Each width has its own generator (seeded by (seed, d_head)), so one width's numbers do not depend on
    which other widths are asked for. A ValueError when a size is out of range or the draw would exceed
    MAX_DRAWS numbers.
    """
    if not 1 <= d_head <= MAX_D_HEAD:
        raise ValueError(f"d_head must be between 1 and {MAX_D_HEAD}, got {d_head}")
    if n_queries < 1 or n_keys < 1:
        raise ValueError("n_queries and n_keys must be at least 1")
    if n_queries * (n_keys + 1) * d_head > MAX_DRAWS:
        raise ValueError(f"too many numbers to draw ({n_queries}·({n_keys}+1)·{d_head} > {MAX_DRAWS})")
    rng = np.random.default_rng([seed, d_head])
    q = rng.standard_normal((n_queries, 1, d_head), dtype=np.float32)  # [query, 1, d_head]
    k = rng.standard_normal((n_queries, n_keys, d_head), dtype=np.float32)  # [query, key, d_head]
    unscaled = (q * k).sum(axis=-1, dtype=np.float64)  # [query, key]
    scaled = unscaled / math.sqrt(d_head)  # [query, key]
    max_u, ent_u = _softmax_summary(unscaled)
    max_s, ent_s = _softmax_summary(scaled)
    return DotProductSpread(
        d_head=d_head,
        n_keys=n_keys,
        unscaled=unscaled.ravel(),
        scaled=scaled.ravel(),
        var_unscaled=float(unscaled.var()),
        var_scaled=float(scaled.var()),
        max_weight_unscaled=max_u,
        max_weight_scaled=max_s,
        entropy_unscaled=ent_u,
        entropy_scaled=ent_s,
    )


def spread_by_width(
    d_heads: Sequence[int] = (1, 4, 16, 64, 256), *, n_queries: int = 1000, n_keys: int = 16, seed: int = 0
) -> list[DotProductSpread]:
    """`dot_product_spread` at each width, for a curve of variance, largest weight and entropy against d_head."""
    return [dot_product_spread(d, n_queries=n_queries, n_keys=n_keys, seed=seed) for d in d_heads]


def histogram(spread: DotProductSpread, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres, counts unscaled, counts scaled) of q·k on shared bins over ±4·√d_head, the unscaled spread."""
    bound = 4 * math.sqrt(spread.d_head)
    edges = np.linspace(-bound, bound, bins + 1)  # [bins + 1]
    unscaled, _ = np.histogram(np.clip(spread.unscaled, -bound, bound), edges)  # [bins]
    scaled, _ = np.histogram(np.clip(spread.scaled, -bound, bound), edges)  # [bins]
    return (edges[:-1] + edges[1:]) / 2, unscaled, scaled
