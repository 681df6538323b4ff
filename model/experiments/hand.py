"""The article's own example, small enough to do by hand: tokens a₀…aₙ₋₁ (the article counts a¹…aⁿ), integer
matrices W^q, W^k, W^v.

The article writes vectors as columns (its matrix form):

    I  = [a₀ a₁ … aₙ₋₁]        [d, n]      column i is token i's input vector
    Q  = W^q·I                 [d_k, n]    column i is qᵢ
    K  = W^k·I                 [d_k, n]
    V  = W^v·I                 [d_v, n]
    A  = Kᵀ·Q                  [n, n]      A[j, i] = kⱼ·qᵢ = α(i, j), the score of query i for key j
    A′ = softmax down each column of A (÷√d_k first, when scaled)    column i holds query i's weights α′
    O  = V·A′                  [d_v, n]    column i is bᵢ = Σⱼ α′(i, j)·vⱼ

The app and the models write vectors as rows (x·W), the layout of every heatmap in the app:

    Q_row = Iᵀ·W^qᵀ = Qᵀ       [n, d_k]    row i is qᵢ
    scores = Q_row·K_rowᵀ = Aᵀ [n, n]      scores[i, j] = qᵢ·kⱼ: row i is query i
    weights = softmax along each row = A′ᵀ
    Z = weights·V_row = Oᵀ     [n, d_v]    row i is bᵢ

The two forms are transposes of each other, step by step (`HandExample.row_form_is_transpose`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_SIZE = 8  # the most tokens, input dimensions or head dimensions the example takes (it is shown cell by cell)

# Four tokens of three dimensions and two-dimensional heads: small integers, so every product is mental arithmetic.
DEFAULT_INPUTS = ((1, 0, 1, 0), (0, 2, 0, 1), (1, 1, 0, 0))  # I: [d=3, n=4], column i is aⁱ
DEFAULT_W_Q = ((1, 0, 1), (0, 1, 0))  # W^q: [d_k=2, d=3]
DEFAULT_W_K = ((0, 1, 1), (1, 0, 0))  # W^k: [d_k=2, d=3]
DEFAULT_W_V = ((1, 1, 0), (0, 0, 2))  # W^v: [d_v=2, d=3]


def _matrix(name: str, values: object) -> np.ndarray:
    """`values` as a finite 2-D float64 array of at most MAX_SIZE × MAX_SIZE, or a ValueError naming `name`."""
    try:
        m = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a matrix of numbers") from err
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"{name} must be a non-empty matrix (rows × columns)")
    if max(m.shape) > MAX_SIZE:
        raise ValueError(f"{name} may be at most {MAX_SIZE} × {MAX_SIZE}, got {m.shape[0]} × {m.shape[1]}")
    if not np.isfinite(m).all():
        raise ValueError(f"{name} must hold finite numbers")
    return m


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x) / Σ exp(x) along `axis`, shifted by the maximum so no exp overflows."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class Step:
    """One intermediate of the example, for a view to show with its shape (`matrix.shape`)."""

    key: str  # stable name of the step: "inputs", "q", "a", "a_prime", "o", "q_row", "scores", "z" …
    symbol: str  # the article's symbol: "I", "Q", "A", "A′", "O"; the row form's "Q_row", "scores", "Z"
    formula: str  # how it is computed, in symbols only ("Kᵀ·Q"); "" for the given matrices
    matrix: np.ndarray  # float64


@dataclass(frozen=True)
class HandExample:
    """Every intermediate of one attention head on a few tokens, in the article's column form and the app's
    row form. All float64."""

    inputs: np.ndarray  # I    [d, n]
    w_q: np.ndarray  # W^q  [d_k, d]
    w_k: np.ndarray  # W^k  [d_k, d]
    w_v: np.ndarray  # W^v  [d_v, d]
    scale: bool  # divide the scores by √d_k
    q: np.ndarray  # Q = W^q·I   [d_k, n]
    k: np.ndarray  # K = W^k·I   [d_k, n]
    v: np.ndarray  # V = W^v·I   [d_v, n]
    a: np.ndarray  # A = Kᵀ·Q    [key, query]   α, before any scaling
    a_scaled: np.ndarray  # A/√d_k (A itself when not scaled)  [key, query]
    a_prime: np.ndarray  # A′: softmax down each column  [key, query]   each column sums to 1
    o: np.ndarray  # O = V·A′    [d_v, query]   column i is bᵢ
    q_row: np.ndarray  # Iᵀ·W^qᵀ   [query, d_k]
    k_row: np.ndarray  # Iᵀ·W^kᵀ   [key, d_k]
    v_row: np.ndarray  # Iᵀ·W^vᵀ   [key, d_v]
    scores: np.ndarray  # Q_row·K_rowᵀ (÷√d_k)   [query, key]
    weights: np.ndarray  # softmax along each row  [query, key]   each row sums to 1
    z: np.ndarray  # weights·V_row   [query, d_v]   row i is bᵢ

    @property
    def d_k(self) -> int:
        return self.w_q.shape[0]

    def steps(self) -> list[Step]:
        """Every intermediate in the order a student computes them: the column form, then the row form.
        Formulas are symbols only; a view words each step (e.g. "softmax down each column") by its key."""
        div = f"/√{self.d_k}" if self.scale else ""
        a = f"(A{div})" if self.scale else "A"
        steps = [
            Step("inputs", "I", "[a₀ … aₙ₋₁]", self.inputs),
            Step("w_q", "W^q", "", self.w_q),
            Step("w_k", "W^k", "", self.w_k),
            Step("w_v", "W^v", "", self.w_v),
            Step("q", "Q", "W^q·I", self.q),
            Step("k", "K", "W^k·I", self.k),
            Step("v", "V", "W^v·I", self.v),
            Step("a", "A", "Kᵀ·Q", self.a),
            Step("a_scaled", "A" + div, "Kᵀ·Q" + div, self.a_scaled),
            Step("a_prime", "A′", f"softmax(Kᵀ·Q{div})", self.a_prime),
            Step("o", "O", "V·A′", self.o),
            Step("q_row", "Q_row", "Iᵀ·W^qᵀ = Qᵀ", self.q_row),
            Step("k_row", "K_row", "Iᵀ·W^kᵀ = Kᵀ", self.k_row),
            Step("v_row", "V_row", "Iᵀ·W^vᵀ = Vᵀ", self.v_row),
            Step("scores", "scores", f"Q_row·K_rowᵀ{div} = {a}ᵀ", self.scores),
            Step("weights", "weights", "softmax(scores) = A′ᵀ", self.weights),
            Step("z", "Z", "weights·V_row = Oᵀ", self.z),
        ]
        return [step for step in steps if self.scale or step.key != "a_scaled"]

    def row_form_is_transpose(self, atol: float = 1e-12) -> bool:
        """Whether every row-form matrix is the transpose of its column-form twin (it always is)."""
        pairs = [
            (self.q_row, self.q),
            (self.k_row, self.k),
            (self.v_row, self.v),
            (self.scores, self.a_scaled),
            (self.weights, self.a_prime),
            (self.z, self.o),
        ]
        return all(np.allclose(row, col.T, atol=atol, rtol=0) for row, col in pairs)


def hand_example(
    inputs: object = DEFAULT_INPUTS,
    w_q: object = DEFAULT_W_Q,
    w_k: object = DEFAULT_W_K,
    w_v: object = DEFAULT_W_V,
    *,
    scale: bool = False,
) -> HandExample:
    """One head on the tokens in the columns of `inputs`, computed in the article's column form and the app's
    row form (see the module docstring).

    inputs: I [d, n]; w_q, w_k: [d_k, d]; w_v: [d_v, d]; nested lists or arrays of numbers, each at most
    MAX_SIZE × MAX_SIZE. scale=False follows the article's steps (α = q·k); scale=True divides by √d_k as
    scaled dot-product attention does. A ValueError says what is wrong with a matrix.
    """
    i = _matrix("I", inputs)
    w_q, w_k, w_v = _matrix("W^q", w_q), _matrix("W^k", w_k), _matrix("W^v", w_v)
    d = i.shape[0]
    for name, w in (("W^q", w_q), ("W^k", w_k), ("W^v", w_v)):
        if w.shape[1] != d:
            raise ValueError(f"{name} must have as many columns as I has rows ({d}), not {w.shape[1]}")
    if w_q.shape[0] != w_k.shape[0]:
        raise ValueError(
            f"W^q and W^k must have the same number of rows (for q·k), not {w_q.shape[0]} and {w_k.shape[0]}"
        )
    divisor = math.sqrt(w_q.shape[0]) if scale else 1.0

    q, k, v = w_q @ i, w_k @ i, w_v @ i  # [d_k, n], [d_k, n], [d_v, n]
    a = k.T @ q  # [key, query]
    a_scaled = a / divisor  # [key, query]
    a_prime = softmax(a_scaled, axis=0)  # [key, query]
    o = v @ a_prime  # [d_v, query]

    q_row, k_row, v_row = i.T @ w_q.T, i.T @ w_k.T, i.T @ w_v.T  # [n, d_k], [n, d_k], [n, d_v]
    scores = q_row @ k_row.T / divisor  # [query, key]
    weights = softmax(scores, axis=1)  # [query, key]
    z = weights @ v_row  # [query, d_v]
    return HandExample(
        inputs=i, w_q=w_q, w_k=w_k, w_v=w_v, scale=scale, q=q, k=k, v=v, a=a, a_scaled=a_scaled, a_prime=a_prime, o=o,
        q_row=q_row, k_row=k_row, v_row=v_row, scores=scores, weights=weights, z=z,
    )  # fmt: skip
