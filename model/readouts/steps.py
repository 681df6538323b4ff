"""The Steps view's numbers, in float64 from a trace's q, k, v: one query row worked through (q·k, ÷√d, mask,
α′, α′·v, bᵢ), the check of α′ and bᵢ against the model's own, and a layer's W^O laid out as the concat meets it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.attention import attention_np
from model.trace import AttentionTrace


@dataclass(frozen=True)
class Scores:
    """Every intermediate between q, k and the weights, float64.  Each is [..., query_pos, key_pos]."""

    dots: np.ndarray  # αᵢⱼ = qᵢ·kⱼ
    scaled: np.ndarray  # the score αᵢⱼ / √d_head (unchanged when scale=False): the trace's `scores`
    logits: np.ndarray  # scaled / T, −∞ where the mask hides the key: what the normalizer sees
    weights: np.ndarray  # α′ᵢⱼ, each row sums to 1


def attention_weights(
    q: np.ndarray,
    k: np.ndarray,
    mask: np.ndarray | None = None,
    normalizer: str = "softmax",
    scale: bool = True,
    temperature: float = 1.0,
) -> Scores:
    """α′ from q and k with every intermediate, in float64: normalize(mask(q·kᵀ/√d_head) / T), the formula of
    model.attention.attention_np (which a trace computes its own α′ with, in float32).

    q: [..., query_pos, d_head], k: [..., key_pos, d_head], mask: [query_pos, key_pos] bool, True = visible.
    ReLU keeps the positive logits and divides by their sum, and a row with none spreads its weight evenly
    over the visible keys.
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    dots = q @ np.swapaxes(k, -1, -2)  # [..., query_pos, key_pos]  αᵢⱼ = qᵢ·kⱼ
    scaled, weights = attention_np(q, k, mask, normalizer, scale, temperature)  # [..., query_pos, key_pos] each
    visible = np.ones(scaled.shape, dtype=bool) if mask is None else np.broadcast_to(mask, scaled.shape)
    logits = np.where(visible, scaled / temperature, -np.inf)  # [..., query_pos, key_pos]  what normalize sees
    return Scores(dots=dots, scaled=scaled, logits=logits, weights=weights)


@dataclass(frozen=True)
class QueryStep:
    """One query i worked through, float64."""

    q: np.ndarray  # [d_head]  qᵢ
    dots: np.ndarray  # [key_pos]  αᵢⱼ = qᵢ·kⱼ
    scaled: np.ndarray  # [key_pos]  ÷√d_head
    logits: np.ndarray  # [key_pos]  ÷T, −∞ where masked
    visible: np.ndarray  # [key_pos] bool
    weights: np.ndarray  # [key_pos]  α′ᵢⱼ
    weighted_values: np.ndarray  # [key_pos, d_head]  α′ᵢⱼ·vⱼ
    output: np.ndarray  # [d_head]  bᵢ = Σⱼ α′ᵢⱼ·vⱼ


def query_step(
    q_i: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask_row: np.ndarray | None = None,
    normalizer: str = "softmax",
    scale: bool = True,
    temperature: float = 1.0,
) -> QueryStep:
    """Steps ②–⑥ for one query.  q_i: [d_head], k, v: [key_pos, d_head], mask_row: [key_pos] bool or None."""
    q_i = np.asarray(q_i, dtype=np.float64)
    row_mask = None if mask_row is None else np.asarray(mask_row, dtype=bool)[None, :]  # [1, key_pos]
    s = attention_weights(q_i[None, :], k, row_mask, normalizer, scale, temperature)  # each [1, key_pos]
    weighted = s.weights[0][:, None] * np.asarray(v, dtype=np.float64)  # [key_pos, d_head]
    return QueryStep(
        q=q_i,
        dots=s.dots[0],
        scaled=s.scaled[0],
        logits=s.logits[0],
        visible=np.isfinite(s.logits[0]),
        weights=s.weights[0],
        weighted_values=weighted,
        output=weighted.sum(axis=0),  # [d_head]
    )


def trace_step(trace: AttentionTrace, layer: int, head: int, query: int) -> QueryStep:
    """query_step on one head of a trace, with the trace's own mask, normalizer, scaling and temperature."""
    lt = trace.layers[layer]
    mask_row = None if trace.mask is None else trace.mask[query]
    return query_step(
        lt.q[head, query], lt.k[head], lt.v[head], mask_row, trace.normalizer, trace.scale, trace.temperature
    )


@dataclass(frozen=True)
class Check:
    alpha: float  # max |α′ recomputed − model's α′| over every query and key of the head
    output: float  # max |bᵢ recomputed − model's zᵢ| for the chosen query


def check_head(trace: AttentionTrace, layer: int, head: int, step: QueryStep, query: int) -> Check:
    """How far the model's own α′ (all rows of the head) and zᵢ are from the formula in float64."""
    lt = trace.layers[layer]
    alpha = attention_weights(lt.q[head], lt.k[head], trace.mask, trace.normalizer, trace.scale, trace.temperature)
    return Check(
        alpha=float(np.abs(alpha.weights - lt.weights[head]).max()),
        output=float(np.abs(step.output - lt.z[head, query]).max()),
    )


def full_w_o(w_o_heads: np.ndarray) -> np.ndarray:
    """W^O of a layer in x·W layout, from every head's slice in nn.Linear layout: rows are the concatenated
    heads' dimensions (head h's block first h·d_head … ), columns the model's.
    [head, d_model, d_head] -> [head · d_head, d_model]"""
    n_heads, d_model, d_head = w_o_heads.shape
    return w_o_heads.transpose(0, 2, 1).reshape(n_heads * d_head, d_model)  # [head · d_head, d_model]
