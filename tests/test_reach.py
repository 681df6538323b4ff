"""Self-attention vs a window vs an RNN: the closed-form reachable sets, layer counts and operation counts
against a brute-force count with repeated boolean products of the masks the playground uses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.attention import build_mask
from model.experiments.playground import PlaygroundConfig, trace_playground
from model.experiments.reach import KINDS, operations, reach, reach_table, steps_to_connect

pytestmark = pytest.mark.fast


def one_step(kind: str, n: int, window: int) -> np.ndarray:
    """Which positions one layer (one recurrence step) lets each position read.  [pos, pos] bool"""
    if kind == "rnn":
        i, j = np.indices((n, n))
        return (j == i) | (j == i - 1)  # h_i = f(h_{i−1}, x_i)
    mask = build_mask(kind, n, window)
    return np.ones((n, n), dtype=bool) if mask is None else mask.numpy()


def brute_force(kind: str, n: int, window: int, steps: int) -> np.ndarray:
    """Dependencies after `steps` layers: the boolean product of the one-step matrix with itself.  [pos, pos]"""
    m = one_step(kind, n, window).astype(int)
    total = np.eye(n, dtype=int)
    for _ in range(steps):
        total = ((total @ m) > 0).astype(int)
    return total.astype(bool)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 12])
@pytest.mark.parametrize("window", [1, 2, 3, 4, 5])
def test_reach_matches_repeated_mask_products(kind, n, window):
    for token, steps in itertools.product(range(n), range(n + 1)):
        expected = brute_force(kind, n, window, steps)[token]
        np.testing.assert_array_equal(reach(kind, n, token, steps, window), expected, err_msg=f"{token=} {steps=}")
    table = reach_table(kind, n, n - 1, n, window)
    assert table.shape == (n + 1, n) and table[0].sum() == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 12])
@pytest.mark.parametrize("window", [1, 2, 3, 4, 5])
def test_layers_to_connect_the_first_token_to_the_last(kind, n, window):
    linked = [steps for steps in range(n + 1) if brute_force(kind, n, window, steps)[n - 1, 0]]
    assert steps_to_connect(kind, n, window) == (linked[0] if linked else None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 5, 16])
def test_operations_count_the_pairs_of_the_mask(kind, n):
    ops = operations(kind, n, window=3)
    assert ops.pairs == (n if kind == "rnn" else one_step(kind, n, 3).sum())  # an RNN: one update per position
    assert ops.sequential == (n if kind == "rnn" else 1)


def test_the_article_s_numbers_for_a_long_text():
    n = 100
    assert [operations(k, n, 5).pairs for k in ("none", "window2", "rnn")] == [n * n, n * 5 - 6, n]
    assert [steps_to_connect(k, n, 5) for k in ("none", "window2", "rnn")] == [1, 50, 99]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        reach("conv", 5, 0, 1)
    with pytest.raises(ValueError):
        reach("window2", 5, 5, 1)
    with pytest.raises(ValueError):
        operations("window", 5, 0)


def test_the_playground_runs_with_the_two_sided_window():
    trace = trace_playground(PlaygroundConfig(mask="window2", window=3, char_tokens=True), "abcdef")
    weights = trace.weights[0, 0]  # [query, key]
    i, j = np.indices(weights.shape)
    assert (weights[np.abs(i - j) > 1] == 0).all() and (weights[np.abs(i - j) <= 1] > 0).all()
