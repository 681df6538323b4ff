"""The Steps view's numbers, in float64 from a trace's q, k, v: one query row worked through (q·k, ÷√d, mask,
α′, α′·v, bᵢ), the check of α′ and bᵢ against the model's own, and a layer's W^O laid out as the concat meets it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from model.attention import AttentionRule
from model.trace import AttentionTrace


@dataclass(frozen=True)
class Scores:
    """Every intermediate between q, k and the weights, float64.  Each is [..., query_pos, key_pos]."""

    dots: np.ndarray  # αᵢⱼ = qᵢ·kⱼ
    scaled: np.ndarray  # the score αᵢⱼ times the rule's scale (1/√d_head, or 1): the trace's `scores`
    logits: np.ndarray  # scaled / T, −∞ where the mask hides the key: what the normalizer sees
    weights: np.ndarray  # α′ᵢⱼ, each row sums to 1


def attention_weights(q: np.ndarray, k: np.ndarray, rule: AttentionRule) -> Scores:
    """α′ from q and k with every intermediate, in float64, written out here apart from the forward passes' code so
    that the two check each other: normalize(mask(scale · q·kᵀ) / T).

    q: [..., query_pos, d_head], k: [..., key_pos, d_head]; rule.mask: [query_pos, key_pos] bool, True = visible.
    ReLU keeps the positive logits and divides by their sum, and a row with none spreads its weight evenly
    over the visible keys.
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    dots = q @ np.swapaxes(k, -1, -2)  # [..., query_pos, key_pos]  αᵢⱼ = qᵢ·kⱼ
    scaled = dots * rule.scale  # [..., query_pos, key_pos]
    visible = np.ones(dots.shape[-2:], dtype=bool) if rule.mask is None else np.asarray(rule.mask, dtype=bool)
    visible = np.broadcast_to(visible, dots.shape)  # [..., query_pos, key_pos]
    logits = np.where(visible, scaled / rule.temperature, -np.inf)  # [..., query_pos, key_pos]  what normalize sees
    if rule.normalizer == "relu":
        kept = np.where(visible, np.maximum(logits, 0.0), 0.0)  # [..., query_pos, key_pos]
        total = kept.sum(axis=-1, keepdims=True)  # [..., query_pos, 1]
        even = visible / visible.sum(axis=-1, keepdims=True)  # [..., query_pos, key_pos]
        weights = np.where(total > 0, kept / np.where(total > 0, total, 1.0), even)
    else:
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))  # 0 where hidden
        weights = e / e.sum(axis=-1, keepdims=True)
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


def query_step(q_i: np.ndarray, k: np.ndarray, v: np.ndarray, rule: AttentionRule, query: int) -> QueryStep:
    """Steps ②–⑥ for query `query` of a layer with this rule.  q_i: [d_head], k, v: [key_pos, d_head]."""
    q_i = np.asarray(q_i, dtype=np.float64)
    row = replace(rule, mask=None if rule.mask is None else rule.mask[query : query + 1])  # [1, key_pos]
    s = attention_weights(q_i[None, :], k, row)  # each [1, key_pos]
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
    """query_step on one head of a trace, by that layer's own rule (mask or window, normalizer, scale, T)."""
    lt = trace.layers[layer]
    return query_step(lt.q[head, query], lt.k[head], lt.v[head], lt.rule, query)


@dataclass(frozen=True)
class Check:
    alpha: float  # max |α′ in float64 here − α′ by the forward passes' torch function| over the head's every cell
    output: float  # max |bᵢ recomputed − the zᵢ the forward pass stored| for the chosen query


def check_head(trace: AttentionTrace, layer: int, head: int, step: QueryStep, query: int) -> Check:
    """How far this module's float64 arithmetic is from the model's own: α′ of every query and key of the head
    against the torch function the forward passes run (on the traced q, k, by the layer's rule), and bᵢ against
    the z the forward pass computed and the trace stored. A wrong rule (a missing window, another scale) shows in
    the second: z was made by the model with its real rule."""
    lt = trace.layers[layer]
    ours = attention_weights(lt.q[head], lt.k[head], lt.rule).weights  # [query_pos, key_pos] float64
    as_torch = [torch.from_numpy(np.array(m[head])) for m in (lt.q, lt.k, lt.v)]  # [pos, d_head] each
    _, _, torch_weights = lt.rule.attention(*as_torch)  # [query_pos, key_pos]
    return Check(
        alpha=float(np.abs(ours - torch_weights.numpy()).max()),
        output=float(np.abs(step.output - lt.z[head, query]).max()),
    )


def full_w_o(w_o_heads: np.ndarray) -> np.ndarray:
    """W^O of a layer in x·W layout, from every head's slice in nn.Linear layout: rows are the concatenated
    heads' dimensions (head h's block first h·d_head … ), columns the model's.
    [head, d_model, d_head] -> [head · d_head, d_model]"""
    n_heads, d_model, d_head = w_o_heads.shape
    return w_o_heads.transpose(0, 2, 1).reshape(n_heads * d_head, d_model)  # [head · d_head, d_model]
