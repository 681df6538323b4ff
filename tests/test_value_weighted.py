"""Value-weighted attention ‖α′ᵢⱼ·vⱼ·W^O‖ against an explicit loop, W^O slices against the weights that
`transformers` and the playground's forward pass use, and the sinks' share against the world."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.experiments.playground import PlaygroundConfig, head_matrices, trace_playground
from model.families.encoder import bundled_model_dir
from model.readouts.analysis import layer_w_o, row_share, trace_value_weighted, value_vectors, value_weighted
from model.registry import trace_any

pytestmark = pytest.mark.fast

SENTENCES = [
    "The animal didn't cross the street because it was too tired.",
    "The bank approved the loan after a long meeting.",
    "She gave him the book that he had asked for yesterday.",
    "Rain fell on the old town all night.",
    "When the alarm rang, everyone left the building calmly.",
]


def test_value_weighted_matches_an_explicit_loop():
    rng = np.random.default_rng(0)
    heads, n, d_head, d_model = 3, 5, 4, 7
    weights = rng.dirichlet(np.ones(n), size=(heads, n))  # [head, q, k]
    v = rng.standard_normal((heads, n, d_head))
    w_o = rng.standard_normal((heads, d_model, d_head))
    got = value_weighted(weights, v, w_o)
    for h in range(heads):
        for i in range(n):
            for j in range(n):
                sent = weights[h, i, j] * (w_o[h] @ v[h, j])  # [d_model]
                assert got[h, i, j] == pytest.approx(np.sqrt(sum(x * x for x in sent)), rel=1e-10)


def test_the_sent_vectors_add_up_to_the_heads_output_through_w_o():
    rng = np.random.default_rng(1)
    weights = rng.dirichlet(np.ones(6), size=(2, 6))  # [head, q, k]
    v, w_o = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 8, 3))
    z = weights @ v  # [head, q, d_head]
    sent = weights[..., None] * value_vectors(v, w_o)[:, None]  # [head, q, k, d_model]
    np.testing.assert_allclose(sent.sum(axis=2), np.einsum("hmd,hqd->hqm", w_o, z), atol=1e-12)


def test_row_share_rows_sum_to_one_and_a_zero_row_stays_zero():
    m = np.array([[1.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(row_share(m), [[0.25, 0.75], [0.0, 0.0]])


def test_playground_w_o_slices_rebuild_its_layer_output():
    cfg = PlaygroundConfig(d_model=12, n_heads=3, n_layers=2, char_tokens=True)
    trace = trace_playground(cfg, "attention")
    x = trace.token_embeddings + trace.position_embeddings  # [pos, d_model]
    for layer in range(cfg.n_layers):
        lt = trace.layers[layer]
        w_o = layer_w_o(functools.partial(head_matrices, cfg), layer, cfg.n_heads)  # [head, d_model, d_head]
        assert w_o.shape == (3, 12, 4)
        attn = np.einsum("hmd,hpd->pm", w_o, lt.z)  # [pos, d_model]  Σ_h z_h·W^O_hᵀ
        expected = F.layer_norm(torch.from_numpy(x + attn), (cfg.d_model,)).numpy()
        np.testing.assert_allclose(lt.output, expected, atol=1e-5)
        x = lt.output


@pytest.fixture(scope="module")
def hf_model():
    transformers = pytest.importorskip("transformers")
    return transformers.BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval()


@pytest.mark.models
def test_minilm_w_o_slices_are_transformers_output_dense(pretrained, hf_model):
    for layer in (0, 5):
        stacked = np.concatenate(list(layer_w_o(pretrained.head_matrices, layer, 12)), axis=1)  # [d_model, d_model]
        dense = hf_model.encoder.layer[layer].attention.output.dense.weight.detach().numpy()
        np.testing.assert_array_equal(stacked, dense)


@pytest.mark.models
def test_minilm_sinks_carry_less_of_the_value_weighted_mass_than_of_alpha(pretrained):
    """Kobayashi et al. 2020: [CLS]/[SEP] get much α′ but their values are short, so they send little."""
    alpha_share, sent_share = [], []  # per sentence: [layer, head]
    for text in SENTENCES:
        trace = trace_any(pretrained, text)
        sinks = trace.is_special()
        vw = np.stack([row_share(trace_value_weighted(trace, layer, pretrained.head_matrices)) for layer in range(6)])
        alpha_share.append(trace.weights[..., sinks].sum(-1).mean(-1))  # [layer, head]
        sent_share.append(vw[..., sinks].sum(-1).mean(-1))  # [layer, head]
    alpha, sent = np.mean(alpha_share, axis=0), np.mean(sent_share, axis=0)  # [layer, head]
    assert (sent.mean(axis=1) < alpha.mean(axis=1)).all(), "in every layer, on average over heads"
    assert sent.mean() < 0.5 * alpha.mean(), (sent.mean(), alpha.mean())
    assert (sent < alpha).mean() > 0.9, "in nearly every head"
