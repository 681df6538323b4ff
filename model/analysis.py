"""Numbers derived from a trace: head averages, attention rollout, similarity of two positions.

Plain numpy on the arrays of an AttentionTrace, so the views and the tests share one definition.
"""

from __future__ import annotations

import numpy as np


def head_average(weights: np.ndarray) -> np.ndarray:
    """Mean α over heads, per layer.  [layer, head, q, k] -> [layer, q, k]"""
    return weights.mean(axis=1)


def rollout(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020): how much each input position reaches each position
    after every layer, counting the residual connection as attention to oneself.

    Per layer A = residual·I + (1 - residual)·mean_heads(α), rows renormalized; the rollout after
    layer l is A_l · … · A_1.  [layer, head, q, k] -> [layer, q, k], each row sums to 1.
    """
    n_layers, _, n, _ = weights.shape
    eye = np.eye(n, dtype=np.float64)  # [q, k]
    total = eye
    out = np.empty((n_layers, n, n), dtype=np.float32)  # [layer, q, k]
    for layer, avg in enumerate(head_average(weights.astype(np.float64))):
        a = residual * eye + (1 - residual) * avg  # [q, k]
        a /= a.sum(axis=-1, keepdims=True)
        total = a @ total  # [q, k]
        out[layer] = total
    return out


def renormalize_without(weights: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """α with the positions in `drop` removed from both axes and each row rescaled to sum to 1,
    so that hiding [CLS]/[SEP] shows how the rest of the attention is shared.  [..., q, k]"""
    keep = ~drop
    sub = weights[..., keep, :][..., keep]  # [..., q', k']
    total = sub.sum(axis=-1, keepdims=True)  # [..., q', 1]
    return np.divide(sub, total, out=np.zeros_like(sub), where=total > 0)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b); 1.0 for two zero vectors, which cannot be told apart either."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))
