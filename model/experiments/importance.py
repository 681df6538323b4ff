"""Attention vs importance: does the key a head weighs most matter most to the model's result?

For a chosen layer, head and query i, the model is re-run once per key j with that key's term taken out of the
head's output (`model.families.blocks.Ablation`; α′ is untouched), and how far query i's vector moves at the last
layer is the key's effect. Ranking the keys by effect and by α′ and correlating the ranks (Spearman) tells whether
the weights point at what matters (Jain & Wallace 2019, "Attention is not Explanation"; Wiegreffe & Pinter 2019,
"Attention is not not Explanation").

Two scopes. "query" (the default) removes α′ᵢⱼ·vⱼ from query i's output alone: a test of query i's own α′ row.
"head" removes the key from every query i′ of the head (as if vⱼ were zero there): the other queries lose their
α′ᵢ′ⱼ·vⱼ too and reach query i in the layers above, so a key query i hardly looks at can still move it a lot, and
ρ comes out lower (on all-MiniLM-L6-v2, "The cat sat on the mat because it was warm.", layer 2 · head 3, query 7:
ρ = +0.82 by query, −0.27 by head).

The re-runs are the cost: one forward pass per key, so at most MAX_KEYS keys are ablated (the ones with the
largest α′; `Importance.skipped` counts the others).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.families.blocks import ABLATION_SCOPES, Ablation
from model.readouts.analysis import cosine_similarity
from model.trace import AttentionTrace

MAX_KEYS = 64
READINGS = ((0.6, "agree"), (0.2, "partly"), (-math.inf, "disagree"))  # the page's reading of ρ, from the top

Run = Callable[[Ablation | None], AttentionTrace]  # re-runs one model on one text, with one key removed or none


def rank_average(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of x, tied values sharing the mean of their ranks (as Spearman's ρ needs).  [n] -> [n]"""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1  # mean of ranks start+1 .. end+1
        start = end + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation ρ: the Pearson correlation of the ranks (ties averaged).

    NaN when it is undefined: fewer than two values, or all values of one side equal.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("spearman needs two 1-D arrays of the same length")
    if len(x) < 2:
        return float("nan")
    rx, ry = rank_average(x), rank_average(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


@dataclass(frozen=True)
class Importance:
    """Each key's α′ for one query of one head, next to how much removing it moves that query's final vector."""

    layer: int
    head: int
    query: int
    scope: str  # "query": each key removed from this query's output alone; "head": from every query of the head
    keys: np.ndarray  # [key] the ablated key positions, ascending
    weights: np.ndarray  # [key] α′[query, key] of the head in the unablated run
    l2: np.ndarray  # [key] ‖h − h′‖ of the query's last-layer vector, h′ with the key removed
    cosine: np.ndarray  # [key] 1 − cos(h, h′)
    relative: np.ndarray  # [key] ‖h − h′‖ / ‖h‖
    spearman_l2: float  # ρ between α′ and l2 over the keys (NaN when undefined)
    spearman_cosine: float  # ρ between α′ and 1 − cos
    skipped: int  # visible keys left out because of MAX_KEYS (those with the smallest α′)


def ablation_effects(
    run: Run, layer: int, head: int, query: int, max_keys: int = MAX_KEYS, scope: str = "query"
) -> Importance:
    """Remove each key the query may see, one at a time, in one head, and measure the query at the last layer.

    run(None) is the model's ordinary trace of the text and run(Ablation(layer, head, key, query)) the same text
    with that key's term taken out of the head's output for this query (scope "query") or for every query (scope
    "head": Ablation(layer, head, key)), e.g. `lambda a: trace_any(loaded, text, ablate=a)` or
    `lambda a: trace_playground(config, text, ablate=a)`. Keys hidden from the query by the mask are skipped
    (removing them cannot change it); of more than `max_keys` visible keys, only the max_keys with the largest
    α′ are re-run. A ValueError when layer, head or query is out of range, or the scope unknown.
    """
    if max_keys < 1:
        raise ValueError("max_keys must be at least 1")
    if scope not in ABLATION_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {ABLATION_SCOPES}")
    base = run(None)
    if not 0 <= layer < base.n_layers or not 0 <= head < base.n_heads or not 0 <= query < base.n_positions:
        raise ValueError(
            f"layer {layer}, head {head}, query {query} out of range "
            f"({base.n_layers} layers, {base.n_heads} heads, {base.n_positions} positions)"
        )
    alpha = base.layers[layer].weights[head, query].astype(np.float64)  # [key_pos]
    visible = np.flatnonzero(base.layers[layer].rule.visible(base.n_positions)[query])  # [key] the layer's own mask
    chosen = visible[np.argsort(-alpha[visible], kind="stable")[:max_keys]]  # the largest α′ first
    keys = np.sort(chosen)  # [key]
    h = base.layers[-1].output[query].astype(np.float64)  # [d_model]
    moved = []
    for key in keys:
        removed = Ablation(layer, head, int(key), query if scope == "query" else None)
        h_ablated = run(removed).layers[-1].output[query].astype(np.float64)  # [d_model]
        moved.append((float(np.linalg.norm(h - h_ablated)), 1.0 - cosine_similarity(h, h_ablated)))
    l2 = np.array([m[0] for m in moved])  # [key]
    cosine = np.array([m[1] for m in moved])  # [key]
    norm = float(np.linalg.norm(h))
    return Importance(
        layer=layer,
        head=head,
        query=query,
        scope=scope,
        keys=keys,
        weights=alpha[keys],
        l2=l2,
        cosine=cosine,
        relative=l2 / norm if norm > 0 else np.zeros_like(l2),
        spearman_l2=spearman(alpha[keys], l2),
        spearman_cosine=spearman(alpha[keys], cosine),
        skipped=len(visible) - len(keys),
    )


def reading(rho: float) -> str | None:
    """How the page reads a ρ: "agree" (ρ ≥ 0.6), "partly" (0.2 ≤ ρ < 0.6), "disagree" (below), None for NaN.
    The cuts are this app's, for words on the page, not a test of significance."""
    if math.isnan(rho):
        return None
    return next(name for cut, name in READINGS if rho >= cut)
