"""Head average, rollout and renormalization against direct numpy computations."""

import numpy as np
import pytest

from model.readouts.analysis import cosine_similarity, head_average, renormalize_without, rollout

pytestmark = pytest.mark.fast


def random_weights(layers=3, heads=4, n=5, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(n), size=(layers, heads, n)).astype(np.float32)


def test_rollout_matches_the_product_of_mixed_layers():
    w = random_weights()
    n = w.shape[-1]
    expected = np.eye(n)
    for layer in range(w.shape[0]):
        a = 0.5 * np.eye(n) + 0.5 * w[layer].mean(axis=0)
        expected = a @ expected
        np.testing.assert_allclose(rollout(w)[layer], expected, atol=1e-6)
    np.testing.assert_allclose(rollout(w).sum(-1), 1.0, atol=1e-5)


def test_head_average_is_the_mean_over_heads_and_its_rows_sum_to_one():
    w = random_weights()  # [layer 3, head 4, query 5, key 5]: every axis but the last two differs in size
    expected = np.zeros((3, 5, 5))
    for layer in range(3):
        for head in range(4):
            expected[layer] += w[layer, head] / 4
    average = head_average(w)
    assert average.shape == (3, 5, 5)
    np.testing.assert_allclose(average, expected, atol=1e-6)
    np.testing.assert_allclose(average.sum(-1), 1.0, atol=1e-5)


def test_renormalize_without_drops_positions_and_rescales():
    w = np.array([[0.5, 0.25, 0.25], [0.2, 0.4, 0.4], [0.6, 0.0, 0.4]])
    out = renormalize_without(w, np.array([True, False, False]))
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0]])


def test_cosine_similarity():
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == 1.0
    assert abs(cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 3.0]))) < 1e-12
    assert cosine_similarity(np.zeros(3), np.zeros(3)) == 1.0
