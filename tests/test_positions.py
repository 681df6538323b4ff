"""Which positions a view shows: hiding special tokens (written once for every view) and the window of a
long text, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

import model
from components.axis import Window, axis_of, centred_range, fit_range

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def trace(pretrained) -> model.AttentionTrace:
    return model.trace_encoder(pretrained, "I saw a saw.")


@pytest.mark.models
def test_hiding_special_tokens_renormalizes_rows_over_the_rest(trace):
    positions = axis_of(trace, True)
    assert positions.tokens == ("i", "saw", "a", "saw", ".") and positions.labels[1] == "2 saw"
    alpha = trace.layers[2].weights[4]  # [query_pos, key_pos]
    inner = alpha[1:-1, 1:-1]
    np.testing.assert_allclose(positions.weights(alpha), inner / inner.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(positions.weights(alpha).sum(axis=1), 1.0, atol=1e-5)
    scores = trace.layers[2].scores[4]
    np.testing.assert_array_equal(positions.cells(scores), scores[1:-1, 1:-1])  # scores are sliced, not rescaled
    np.testing.assert_array_equal(positions.rows(trace.layers[2].q[4]), trace.layers[2].q[4][1:-1])


@pytest.mark.models
def test_showing_everything_leaves_alpha_as_the_model_made_it(trace):
    positions = axis_of(trace, False)
    alpha = trace.layers[0].weights[0]
    assert positions.weights(alpha) is alpha and len(positions) == trace.n_positions
    assert positions.first(3).labels == ["0 [CLS]", "1 i", "2 saw"]


@pytest.mark.parametrize(
    "asked, n, capacity, expected",
    [
        (None, 512, 16, (0, 15)),  # nothing asked: the first block
        ((100, 130), 512, 16, (100, 115)),  # too wide: cut to the capacity
        ((130, 100), 512, 16, (100, 115)),  # either order
        ((600, 700), 512, 16, (511, 511)),  # beyond the text: moved inside
        ((-5, 3), 512, 16, (0, 3)),
        ((2, 5), 4, 16, (2, 3)),
        (("a", "b"), 40, 16, (0, 15)),  # not numbers: the first block
    ],
)
def test_a_window_stays_inside_the_text_and_its_capacity(asked, n, capacity, expected):
    first, last = fit_range(asked, n, capacity)
    assert (first, last) == expected
    assert 0 <= first <= last < n and last - first < capacity


def test_a_centred_window_holds_its_centre():
    assert centred_range(200, 512, 16) == (192, 207)
    assert centred_range(3, 512, 16) == (0, 15) and centred_range(510, 512, 16) == (496, 511)
    assert centred_range(2, 5, 16) == (0, 4)


def test_a_window_slices_rows_and_columns():
    window = Window((2, 4), (0, 1))
    matrix = np.arange(36).reshape(6, 6)
    np.testing.assert_array_equal(matrix[window.rows, window.cols], [[12, 13], [18, 19], [24, 25]])
    assert not window.whole(6) and Window((0, 5), (0, 5)).whole(6)
