"""scaled_dot_product_attention against torch.nn.functional, and the invariants of α."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.attention import attention_np, build_mask, normalize, scaled_dot_product_attention

pytestmark = pytest.mark.fast


@pytest.fixture
def qkv():
    gen = torch.Generator().manual_seed(0)
    return tuple(torch.randn(3, 7, 8, generator=gen) for _ in range(3))  # [head, pos, d_head]


@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch_sdpa(qkv, causal):
    q, k, v = qkv
    mask = build_mask("causal" if causal else "none", 7)
    z, scores, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(z, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(scores, q @ k.transpose(-2, -1) / math.sqrt(8))


def test_window_mask_matches_torch_sdpa_with_boolean_mask(qkv):
    q, k, v = qkv
    mask = build_mask("window", 7, window=3)
    z, _, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(z, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-6, rtol=1e-5)


def test_temperature_and_no_scale_match_sdpa_scale_argument(qkv):
    q, k, v = qkv
    z, scores, _ = scaled_dot_product_attention(q, k, v, scale=1.0, temperature=2.0)
    torch.testing.assert_close(z, F.scaled_dot_product_attention(q, k, v, scale=0.5), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(scores, q @ k.transpose(-2, -1))


def test_masks_have_the_documented_shape():
    causal = build_mask("causal", 5)
    assert torch.equal(causal, torch.tril(torch.ones(5, 5, dtype=torch.bool)))
    window = build_mask("window", 5, window=2)
    assert window.sum(dim=1).tolist() == [1, 2, 2, 2, 2]
    assert window[4, 3] and window[4, 4] and not window[4, 2]
    assert build_mask("none", 5) is None
    with pytest.raises(ValueError):
        build_mask("diagonal", 5)


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 9])
def test_two_sided_window_is_centred_like_a_same_padded_convolution(window):
    n = 8
    mask = build_mask("window2", n, window=window)
    for i in range(n):
        keys = [j for j in range(n) if mask[i, j]]
        kernel = [i + offset for offset in range(-((window - 1) // 2), window // 2 + 1)]  # a kernel of `window` taps
        assert keys == [j for j in kernel if 0 <= j < n]
    assert mask.sum(dim=1).max().item() == min(window, n)
    with pytest.raises(ValueError):
        build_mask("window2", n, window=0)


@pytest.mark.parametrize("normalizer", ["softmax", "relu"])
@pytest.mark.parametrize("kind", ["none", "causal", "window", "window2"])
def test_rows_sum_to_one_and_masked_entries_are_zero(qkv, normalizer, kind):
    q, k, v = qkv
    mask = build_mask(kind, 7, window=2)
    _, _, weights = scaled_dot_product_attention(q, k, v, mask=mask, normalizer=normalizer)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 7))
    assert (weights >= 0).all()
    if mask is not None:
        assert (weights[:, ~mask] == 0).all()
    if kind == "causal":
        assert torch.equal(torch.triu(weights, diagonal=1), torch.zeros_like(weights))


def test_relu_divides_positive_scores_by_their_sum():
    scores = torch.tensor([[2.0, -1.0, 1.0, 0.0]])
    weights = normalize(scores, normalizer="relu")
    torch.testing.assert_close(weights, torch.tensor([[2 / 3, 0.0, 1 / 3, 0.0]]))


def test_relu_with_no_positive_score_spreads_evenly_over_visible_keys():
    scores = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0]])
    mask = torch.tensor([[True, False, False], [True, True, False]])
    weights = normalize(scores, mask, normalizer="relu")
    torch.testing.assert_close(weights, torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    assert torch.isfinite(weights).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        normalize(torch.zeros(2, 2), normalizer="sparsemax")
    with pytest.raises(ValueError):
        normalize(torch.zeros(2, 2), temperature=0.0)


@pytest.mark.parametrize("normalizer", ["softmax", "relu"])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "window"])
@pytest.mark.parametrize("scale", [None, 1.0, 0.25])
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_numpy_formula_is_the_torch_one(normalizer, mask_kind, scale, temperature):
    """attention_np (what a trace computes its weights with) against the torch functions the models run."""
    gen = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(3, 9, 8, generator=gen) for _ in range(3))
    mask = build_mask(mask_kind, 9, window=3)
    _, scores, weights = scaled_dot_product_attention(
        q, k, v, mask=mask, normalizer=normalizer, scale=scale, temperature=temperature
    )
    np_scores, np_weights = attention_np(
        q.numpy(), k.numpy(), None if mask is None else mask.numpy(), normalizer, scale, temperature
    )
    assert np_weights.dtype == np.float32
    np.testing.assert_allclose(np_scores, scores.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_weights, weights.numpy(), rtol=1e-5, atol=1e-6)
