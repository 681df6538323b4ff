"""sinusoidal_encoding against the closed-form formula, written independently with math.sin/cos."""

import math

import pytest
import torch

from model import sinusoidal_encoding


@pytest.mark.parametrize("d_model", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("base", [10_000.0, 100.0])
def test_matches_closed_form(d_model, base):
    pe = sinusoidal_encoding(20, d_model, base)
    assert pe.shape == (20, d_model)
    for pos in range(20):
        for dim in range(d_model):
            angle = pos / base ** ((dim - dim % 2) / d_model)
            expected = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
            assert pe[pos, dim].item() == pytest.approx(expected, abs=1e-6)


def test_values_bounded_and_positions_distinct():
    pe = sinusoidal_encoding(512, 64)
    assert pe.abs().max() <= 1.0
    assert torch.unique(pe, dim=0).shape[0] == 512


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        sinusoidal_encoding(4, 0)
    with pytest.raises(ValueError):
        sinusoidal_encoding(4, 8, base=1.0)
