"""sinusoidal_encoding against the closed-form formula, written independently with math.sin/cos; rotary (RoPE)
against transformers' Llama and against what a rotation must do."""

import math

import numpy as np
import pytest
import torch

from model.positional import rotary, rotary_np, sinusoidal_encoding

pytestmark = pytest.mark.fast


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


@pytest.mark.parametrize(("d_head", "base"), [(64, 100_000.0), (8, 500.0)])
def test_rotary_matches_transformers_llama(d_head, base):
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    config = llama.LlamaConfig(
        hidden_size=2 * d_head,
        num_attention_heads=2,
        head_dim=d_head,
        rope_parameters={"rope_type": "default", "rope_theta": base},
    )
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 3, 40, d_head, generator=gen)  # [batch, head, pos, d_head] each
    positions = torch.arange(40)[None]  # [batch, pos]
    cos, sin = llama.LlamaRotaryEmbedding(config)(q, positions)
    q_hf, k_hf = llama.apply_rotary_pos_emb(q, k, cos, sin)
    torch.testing.assert_close(rotary(q, range(40), base), q_hf, rtol=0, atol=1e-6)
    torch.testing.assert_close(rotary(k, range(40), base), k_hf, rtol=0, atol=1e-6)


def test_rotary_inverse_turns_back_and_lengths_stay():
    x = np.random.default_rng(0).standard_normal((3, 50, 16)).astype(np.float32)  # [head, pos, d_head]
    turned = rotary_np(x, range(50), 10_000.0)
    np.testing.assert_allclose(rotary_np(turned, range(50), 10_000.0, inverse=True), x, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(turned, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_array_equal(turned[:, 0], x[:, 0])  # position 0 turns by 0
    assert not np.allclose(turned[:, 1:], x[:, 1:], atol=1e-3)


def test_rotary_score_depends_only_on_the_offset():
    """q at position m and k at position n score the same as at m + s and n + s: RoPE encodes m − n. The angles are
    float32, as in transformers, so at position p they are off by about p · 6e-8 radians."""
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 64, generator=gen, dtype=torch.float64)
    base = 100_000.0
    for m, n in [(5, 2), (40, 0), (7, 7)]:
        score = rotary(q[None], [m], base) @ rotary(k[None], [n], base).T
        for shift in (1, 100, 450):
            shifted = rotary(q[None], [m + shift], base) @ rotary(k[None], [n + shift], base).T
            torch.testing.assert_close(shifted, score, rtol=0, atol=1e-4 * q.norm() * k.norm())
    near = rotary(q[None], [5], base) @ rotary(k[None], [4], base).T
    far = rotary(q[None], [5], base) @ rotary(k[None], [300], base).T
    assert not torch.allclose(near, far)


def test_rotary_rejects_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        rotary(torch.zeros(2, 5), range(2), 10_000.0)
    with pytest.raises(ValueError, match="base"):
        rotary(torch.zeros(2, 4), range(2), 1.0)
