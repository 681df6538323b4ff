"""Why √d: the variance of q·k of unit-variance entries is d (÷√d brings it to 1), and unscaled softmax is
the more peaked one. Statistical checks with a fixed seed and 16 000 samples per width."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.experiments.scaling import dot_product_spread, spread_by_width

pytestmark = pytest.mark.fast

WIDTHS = (1, 4, 16, 64, 256)


@pytest.fixture(scope="module")
def spreads():
    return spread_by_width(WIDTHS)


def test_variance_is_d_unscaled_and_one_scaled(spreads):
    for s in spreads:
        # the sample variance of 16 000 scores is within a few percent of the true one (1/√(16000/2) ≈ 1.1%
        # standard error for normal-like scores; correlated draws within a query widen it)
        assert s.var_unscaled == pytest.approx(s.d_head, rel=0.06), s.d_head
        assert s.var_scaled == pytest.approx(1.0, rel=0.06), s.d_head
        np.testing.assert_allclose(s.scaled, s.unscaled / math.sqrt(s.d_head))
        assert s.unscaled.shape == (1000 * 16,)


def test_unscaled_softmax_is_more_peaked_and_more_so_as_d_grows(spreads):
    for s in spreads[1:]:  # at d = 1, ÷√1 changes nothing
        assert s.max_weight_unscaled > s.max_weight_scaled
        assert s.entropy_unscaled < s.entropy_scaled
    assert [s.max_weight_unscaled for s in spreads] == sorted(s.max_weight_unscaled for s in spreads)
    assert spreads[-1].max_weight_unscaled > 0.9, "at d = 256 one key takes nearly everything"
    scaled = [s.max_weight_scaled for s in spreads]
    assert max(scaled) - min(scaled) < 0.05, "scaled, the softmax looks the same at every width"
    for s in spreads:
        assert 0 <= s.entropy_unscaled <= math.log(16) + 1e-9 and 1 / 16 <= s.max_weight_unscaled <= 1


def test_softmax_summary_against_a_direct_computation():
    s = dot_product_spread(8, n_queries=5, n_keys=4, seed=3)
    scores = s.unscaled.reshape(5, 4)
    w = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    assert s.max_weight_unscaled == pytest.approx(w.max(-1).mean())
    assert s.entropy_unscaled == pytest.approx((-(w * np.log(w)).sum(-1)).mean())


def test_a_width_does_not_depend_on_the_others_and_the_seed_matters():
    alone = dot_product_spread(16)
    np.testing.assert_array_equal(alone.unscaled, spread_by_width((4, 16))[1].unscaled)
    assert not np.array_equal(alone.unscaled, dot_product_spread(16, seed=1).unscaled)


@pytest.mark.parametrize("kwargs", [{"d_head": 0}, {"d_head": 5000}, {"d_head": 4096, "n_queries": 10_000}])
def test_sizes_out_of_range_are_refused(kwargs):
    with pytest.raises(ValueError):
        dot_product_spread(**kwargs)
