"""Self-attention vs a window vs an RNN: the closed-form reachable sets, layer counts and operation counts
against a brute-force count with repeated boolean products of the masks the playground uses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.attention import build_mask
from model.experiments.playground import PlaygroundConfig, trace_playground
from model.experiments.reach import (
    KINDS,
    cheaper,
    layers_to_connect,
    operations,
    path_length,
    reach,
    reach_rows,
    reach_table,
)

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
def test_the_path_from_the_first_token_to_the_last(kind, n, window):
    """Hops (layers, or an RNN's recurrence steps) until the last token depends on the first, by brute force; an
    RNN takes them all inside one layer."""
    linked = [steps for steps in range(n + 1) if brute_force(kind, n, window, steps)[n - 1, 0]]
    assert path_length(kind, n, window) == (linked[0] if linked else None)
    expected_layers = (0 if n == 1 else 1) if kind == "rnn" else path_length(kind, n, window)
    assert layers_to_connect(kind, n, window) == expected_layers


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 5, 16])
def test_operations_count_the_pairs_of_the_mask(kind, n):
    ops = operations(kind, n, window=3, d=48)
    assert ops.pairs == (n if kind == "rnn" else one_step(kind, n, 3).sum())  # an RNN: one update per position
    assert ops.sequential == (n if kind == "rnn" else 1)
    # a dot product of d numbers is d multiply-adds; an RNN's update, a d × d matrix times a vector, d² of them
    assert ops.multiply_adds == (n * 48 * 48 if kind == "rnn" else ops.pairs * 48)


def test_the_article_s_numbers_for_a_long_text():
    """Vaswani et al.'s Table 1 at n = 100: an RNN connects the ends in one layer along a path of n − 1 = 99 steps;
    self-attention's n²·d and the RNN's n·d² cross at n = d."""
    n = 100
    assert [operations(k, n, 5).pairs for k in ("none", "window2", "rnn")] == [n * n, n * 5 - 6, n]
    assert [layers_to_connect(k, n, 5) for k in ("none", "window2", "rnn")] == [1, 50, 1]
    assert [path_length(k, n, 5) for k in ("none", "window2", "rnn")] == [1, 50, 99]
    for d in (64, 100, 384):
        attention, rnn = operations("none", n, d=d).multiply_adds, operations("rnn", n, d=d).multiply_adds
        assert (attention < rnn, attention == rnn) == (n < d, n == d)
        assert cheaper(n, d) == ("attention" if n < d else "rnn" if n > d else "equal")


def test_a_two_sided_window_is_not_simply_twice_as_slow():
    """Looking ⌊(w − 1)/2⌋ each way: w = 2 never connects, w = 4 takes three times the one-sided layers, odd w about
    twice (the old caption's "about twice as many" held only for odd w)."""
    n = 100
    one_sided = {w: layers_to_connect("window", n, w) for w in (2, 3, 4, 5)}
    two_sided = {w: layers_to_connect("window2", n, w) for w in (2, 3, 4, 5)}
    assert two_sided[2] is None and one_sided[2] == 99
    assert (one_sided[4], two_sided[4]) == (33, 99)
    assert (one_sided[3], two_sided[3]) == (50, 99) and (one_sided[5], two_sided[5]) == (25, 50)


def test_the_table_rows_carry_every_count():
    rows = {row.kind: row for row in reach_rows(12, 3, d=384)}
    assert rows["rnn"].layers == 1 and rows["rnn"].path == 11 and rows["rnn"].multiply_adds == 12 * 384 * 384
    assert rows["none"].layers == rows["none"].path == 1 and rows["none"].multiply_adds == 144 * 384


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
