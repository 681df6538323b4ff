"""Numbers derived from one trace: head averages, attention rollout, similarity of two positions, and
value-weighted attention (what each key actually sends, not only how much weight it gets).

Plain numpy on the arrays of an AttentionTrace, so the views and the tests share one definition. Numbers
over a corpus live in model/experiments/atlas.py, word-level merging in model/readouts/words.py, re-runs of a model in
model/experiments/importance.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.readouts.words import Words
from model.trace import AttentionTrace


def head_average(weights: np.ndarray) -> np.ndarray:
    """Mean α′ over heads, per layer.  [layer, head, q, k] -> [layer, q, k]"""
    return weights.mean(axis=1)


def rollout(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020): how much each input position reaches each position
    after every layer, counting the residual connection as attention to oneself.

    Per layer A = residual·I + (1 - residual)·mean_heads(α′), rows renormalized; the rollout after
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
    """α′ with the positions in `drop` removed from both axes and each row rescaled to sum to 1,
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


def value_vectors(v: np.ndarray, w_o: np.ndarray) -> np.ndarray:
    """What each key would send into the residual stream through one head at full weight: W^O_h · v_j.

    v: [head, key_pos, d_head]; w_o: [head, d_model, d_head], each head's slice of W^O in nn.Linear's layout
    (`head_matrices(layer, head)["W_O"]`). Returns [head, key_pos, d_model]. W^O's bias is left out: it is
    added once per query, not sent by any key.
    """
    return np.einsum("hmd,hkd->hkm", w_o, v)  # [head, key_pos, d_model]


def value_weighted(weights: np.ndarray, v: np.ndarray, w_o: np.ndarray) -> np.ndarray:
    """Value-weighted attention (Kobayashi et al., EMNLP 2020): ‖α′ᵢⱼ · W^O_h · vⱼ‖ for every head, query and key.

    A head's output for query i, once through W^O, is Σⱼ α′ᵢⱼ · W^O_h vⱼ: this is the length of each key's term
    of that sum. A key with a large α′ but a short value vector sends little (the [CLS]/[SEP] "sinks").
    weights: [head, query_pos, key_pos] (α′, non-negative); v: [head, key_pos, d_head]; w_o: [head, d_model,
    d_head]. Returns [head, query_pos, key_pos], ≥ 0; rows do not sum to 1 (see `row_share`).
    """
    norms = np.linalg.norm(value_vectors(v, w_o), axis=-1)  # [head, key_pos]
    return weights * norms[:, None, :]  # [head, query_pos, key_pos]  α′ ≥ 0, so ‖α′·x‖ = α′·‖x‖


def value_weighted_words(weights: np.ndarray, v: np.ndarray, w_o: np.ndarray, words: Words) -> np.ndarray:
    """Value-weighted attention between words: for a key word, its pieces' vectors α′ᵢⱼ · W^O_h vⱼ summed before the
    length is taken, ‖Σ_{j in the word} α′ᵢⱼ · W^O_h vⱼ‖, which is what the word sends (the sum of its pieces'
    lengths would only bound that from above, by the triangle inequality); then, as `merge_words` does for α′, the
    rows of a query word's pieces averaged.
    weights: [head, query_pos, key_pos]; v: [head, key_pos, d_head]; w_o: [head, d_model, d_head].
    Returns [head, query_word, key_word], ≥ 0."""
    vectors = value_vectors(v, w_o)  # [head, key_pos, d_model]
    by_piece = np.empty((*weights.shape[:2], len(words.groups)))  # [head, query_pos, key_word]
    for w, group in enumerate(words.groups):
        pieces = list(group)
        sent = np.einsum("hqk,hkm->hqm", weights[:, :, pieces], vectors[:, pieces])  # [head, query_pos, d_model]
        by_piece[..., w] = np.linalg.norm(sent, axis=-1)
    member = np.zeros((len(words.groups), weights.shape[-1]))  # [word, pos]
    for w, group in enumerate(words.groups):
        member[w, list(group)] = 1 / len(group)
    return np.einsum("wq,hqk->hwk", member, by_piece)  # [head, query_word, key_word]


def row_share(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum, so a value-weighted row compares with α′ as shares; an all-zero row stays
    zero.  [..., query_pos, key_pos] -> same, rows sum to 1 (or 0)."""
    total = matrix.sum(axis=-1, keepdims=True)  # [..., query_pos, 1]
    return np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)


def layer_w_o(head_matrices: Callable[[int, int], dict[str, np.ndarray]], layer: int, n_heads: int) -> np.ndarray:
    """Every head's slice of W^O for one layer, stacked: `head_matrices` is a loaded model's method or
    `functools.partial(model.playground.head_matrices, config)`.  -> [head, d_model, d_head]"""
    return np.stack([head_matrices(layer, head)["W_O"] for head in range(n_heads)])


def trace_value_weighted(
    trace: AttentionTrace, layer: int, head_matrices: Callable[[int, int], dict[str, np.ndarray]]
) -> np.ndarray:
    """`value_weighted` of one layer of a trace.  -> [head, query_pos, key_pos]"""
    lt = trace.layers[layer]
    return value_weighted(lt.weights, lt.v, layer_w_o(head_matrices, layer, trace.n_heads))


def repeated_pair(tokens: tuple[str, ...], special: np.ndarray) -> tuple[int, int] | None:
    """The first two positions holding the same word (special and unknown tokens left out).

    Words with a letter or digit are preferred over repeated punctuation.
    """
    for wordy in (True, False):
        seen: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if special[i] or tok == "[UNK]" or (wordy and not any(ch.isalnum() for ch in tok)):
                continue
            if tok in seen:
                return seen[tok], i
            seen[tok] = i
    return None


def repeat_similarity(trace: AttentionTrace, i: int, j: int) -> np.ndarray:
    """cos(output[i], output[j]) after every layer.  # [layer]"""
    return np.array([cosine_similarity(layer.output[i], layer.output[j]) for layer in trace.layers])


def top_other(weights: np.ndarray, special: np.ndarray, query: int) -> int | None:
    """The key a query gives most α′ to, leaving out itself and special tokens (None if none is left)."""
    row = np.where(special, -np.inf, np.asarray(weights[query], dtype=np.float64))  # [key_pos]
    row[query] = -np.inf
    best = int(np.argmax(row))
    return None if not np.isfinite(row[best]) else best


def same_depth(layer: int, n_layers: int, other_layers: int) -> int:
    """The layer of a model with other_layers at the same relative depth as `layer` of one with n_layers."""
    return round(layer / max(n_layers - 1, 1) * (other_layers - 1))


def later_share(weights: np.ndarray) -> float:
    """The mean α′ a query gives to the keys after it (above the diagonal), over every head and query (and
    layer).  [..., query_pos, key_pos] -> a share in [0, 1]"""
    n = weights.shape[-1]
    return float(np.triu(weights, k=1).sum(-1).mean()) if n > 1 else 0.0
