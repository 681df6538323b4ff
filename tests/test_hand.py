"""The article's example by hand: every intermediate against explicit arithmetic (loops over i, j), the row
form against the column form and against the app's own attention function."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from model.attention import scaled_dot_product_attention
from model.experiments.hand import MAX_SIZE, hand_example

pytestmark = pytest.mark.fast


def matmul(a, b):
    """A plain triple loop."""
    return np.array([[sum(a[r][t] * b[t][c] for t in range(len(b))) for c in range(len(b[0]))] for r in range(len(a))])


@pytest.mark.parametrize("scale", [False, True])
def test_column_form_matches_explicit_arithmetic(scale):
    ex = hand_example(scale=scale)
    inputs, n = ex.inputs.tolist(), ex.inputs.shape[1]
    a_cols = [[row[i] for row in inputs] for i in range(n)]  # aⁱ as lists
    q = [[sum(w * x for w, x in zip(row, a, strict=True)) for row in ex.w_q.tolist()] for a in a_cols]  # qᵢ
    k = [[sum(w * x for w, x in zip(row, a, strict=True)) for row in ex.w_k.tolist()] for a in a_cols]
    v = [[sum(w * x for w, x in zip(row, a, strict=True)) for row in ex.w_v.tolist()] for a in a_cols]
    np.testing.assert_array_equal(ex.q, np.array(q).T)
    np.testing.assert_array_equal(ex.k, np.array(k).T)
    np.testing.assert_array_equal(ex.v, np.array(v).T)
    divisor = math.sqrt(len(q[0])) if scale else 1.0
    for i in range(n):  # query i is column i
        alpha = [sum(x * y for x, y in zip(k[j], q[i], strict=True)) for j in range(n)]  # α(i, j) = kⱼ·qᵢ
        for j in range(n):
            assert ex.a[j, i] == alpha[j]
        exps = [math.exp(x / divisor) for x in alpha]
        weights = [e / sum(exps) for e in exps]
        np.testing.assert_allclose(ex.a_prime[:, i], weights, rtol=1e-12)
        b = [sum(weights[j] * v[j][c] for j in range(n)) for c in range(len(v[0]))]  # bᵢ = Σⱼ α′·vⱼ
        np.testing.assert_allclose(ex.o[:, i], b, rtol=1e-12)
    np.testing.assert_allclose(ex.a_prime.sum(axis=0), 1.0)


def test_row_form_is_the_transpose_and_the_apps_attention():
    ex = hand_example(scale=True)
    assert ex.row_form_is_transpose()
    np.testing.assert_array_equal(ex.q_row, matmul(ex.inputs.T, ex.w_q.T))
    np.testing.assert_allclose(ex.scores, ex.a.T / math.sqrt(2))
    np.testing.assert_allclose(ex.weights.sum(axis=1), 1.0)
    z, scores, weights = scaled_dot_product_attention(*(torch.from_numpy(m) for m in (ex.q_row, ex.k_row, ex.v_row)))
    np.testing.assert_allclose(ex.scores, scores.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ex.weights, weights.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ex.z, z.numpy(), rtol=1e-12)


def test_steps_carry_every_intermediate_with_its_shape():
    ex = hand_example()
    shapes = {s.key: s.matrix.shape for s in ex.steps()}
    assert shapes == {
        "inputs": (3, 4), "w_q": (2, 3), "w_k": (2, 3), "w_v": (2, 3), "q": (2, 4), "k": (2, 4), "v": (2, 4),
        "a": (4, 4), "a_prime": (4, 4), "o": (2, 4),
        "q_row": (4, 2), "k_row": (4, 2), "v_row": (4, 2), "scores": (4, 4), "weights": (4, 4), "z": (4, 2),
    }  # fmt: skip
    assert "a_scaled" in {s.key for s in hand_example(scale=True).steps()}


def test_other_sizes_and_a_value_width_of_its_own():
    ex = hand_example([[1, 2, 3]], [[1], [2]], [[0], [1]], [[3]])  # d = 1, n = 3, d_k = 2, d_v = 1
    assert ex.o.shape == (1, 3) and ex.a.shape == (3, 3) and ex.row_form_is_transpose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([[1, 2]], [[1, 1]], [[1]], [[1]]), "W^q must have as many columns as I has rows (1)"),
        (([[1, 2]], [[1]], [[1], [1]], [[1]]), "same number of rows"),
        (([[1, "x"]], [[1]], [[1]], [[1]]), "matrix of numbers"),
        (([[1, float("nan")]], [[1]], [[1]], [[1]]), "finite"),
        (([1, 2],), "non-empty matrix"),
        (([[1] * (MAX_SIZE + 1)],), "at most"),
        (([[1, 2], [3]],), "matrix of numbers"),
    ],
)
def test_bad_matrices_are_refused_with_a_reason(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        hand_example(*args)
