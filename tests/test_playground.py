"""The playground model: shapes follow the config, settings do what they say, bad settings are refused."""

import numpy as np
import pytest
import torch

import model
from model.experiments.playground import PlaygroundConfig, head_matrices, layer_matrices, trace_playground

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("d_model, n_heads", [(2, 1), (12, 3), (64, 4), (96, 16), (1024, 8)])
def test_shapes_follow_the_config(d_model, n_heads):
    cfg = PlaygroundConfig(d_model=d_model, n_heads=n_heads, n_layers=2, char_tokens=True)
    trace = trace_playground(cfg, "I saw a saw")
    n = len("Isawasaw")
    assert trace.tokens == tuple("Isawasaw")
    assert len(trace.layers) == 2
    for layer in trace.layers:
        assert layer.q.shape == layer.z.shape == (n_heads, n, d_model // n_heads)
        assert layer.weights.shape == (n_heads, n, n)
        assert layer.concat.shape == layer.output.shape == (n, d_model)
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("d_model, n_heads", [(10, 3), (64, 5), (7, 2)])
def test_heads_that_do_not_divide_d_model_are_refused(d_model, n_heads):
    with pytest.raises(model.InvalidConfigError, match="must divide d_model"):
        PlaygroundConfig(d_model=d_model, n_heads=n_heads)


@pytest.mark.parametrize(
    "bad",
    [{"d_model": 0}, {"d_model": 4096}, {"n_layers": 9}, {"normalizer": "max"}, {"mask": "x"}, {"temperature": 0}],
)
def test_out_of_range_settings_are_refused(bad):
    with pytest.raises(model.InvalidConfigError):
        PlaygroundConfig(**bad)


def test_valid_head_counts_divide_d_model():
    assert model.valid_head_counts(12) == [1, 2, 3, 4, 6, 12]
    assert model.valid_head_counts(7) == [1, 7]


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = trace_playground(PlaygroundConfig(seed=3, char_tokens=True), "attention")
    b = trace_playground(PlaygroundConfig(seed=3, char_tokens=True), "attention")
    c = trace_playground(PlaygroundConfig(seed=4, char_tokens=True), "attention")
    np.testing.assert_array_equal(a.layers[0].weights, b.layers[0].weights)
    assert not np.allclose(a.layers[0].weights, c.layers[0].weights)


def test_matches_torch_multi_head_attention_written_independently():
    cfg = PlaygroundConfig(d_model=16, n_heads=4, mask="causal", temperature=0.5, char_tokens=True)
    trace = trace_playground(cfg, "abcab")
    w = layer_matrices(cfg)[0]
    x = torch.from_numpy(trace.token_embeddings + trace.position_embeddings)
    q, k, v = (x @ w[name] for name in ("W_Q", "W_K", "W_V"))
    split = lambda t: t.view(5, 4, 4).transpose(0, 1)  # noqa: E731
    z = torch.nn.functional.scaled_dot_product_attention(
        split(q), split(k), split(v), is_causal=True, scale=0.5**-1 / 2
    )
    np.testing.assert_allclose(trace.layers[0].z, z.numpy(), atol=1e-5)
    out = torch.nn.functional.layer_norm(x + z.transpose(0, 1).reshape(5, 16) @ w["W_O"], (16,))
    np.testing.assert_allclose(trace.layers[0].output, out.numpy(), atol=1e-5)
    assert all(layer.rule.mask is not None and not layer.rule.mask[0, 1] for layer in trace.layers)


def test_chinese_gets_one_token_per_character():
    trace = trace_playground(PlaygroundConfig(char_tokens=True), "我看见了一把锯子")
    assert trace.tokens == tuple("我看见了一把锯子")
    assert trace.layers[0].weights.shape[-1] == 8


@pytest.mark.models
def test_pretrained_embeddings_path_uses_the_tokenizer(pretrained):
    trace = trace_playground(PlaygroundConfig(d_model=32, n_heads=2), "I saw a saw", pretrained)
    assert trace.tokens == ("[CLS]", "i", "saw", "a", "saw", "[SEP]")
    # Same token, same input vector before positions are added.
    np.testing.assert_allclose(trace.token_embeddings[2], trace.token_embeddings[4], atol=1e-5)


def test_without_positions_repeated_characters_get_identical_outputs():
    trace = trace_playground(PlaygroundConfig(with_positions=False, char_tokens=True), "sas")
    for layer in trace.layers:
        np.testing.assert_allclose(layer.output[0], layer.output[2], atol=1e-5)


def test_head_weights_give_the_traced_q():
    cfg = PlaygroundConfig(d_model=12, n_heads=3, char_tokens=True)
    trace = trace_playground(cfg, "hello")
    x = trace.token_embeddings + trace.position_embeddings
    w = head_matrices(cfg, 0, 1)
    np.testing.assert_allclose(x @ w["W_Q"].T, trace.layers[0].q[1], atol=1e-5)


def test_text_without_visible_characters_is_refused():
    with pytest.raises(model.EmptyTextError):
        trace_playground(PlaygroundConfig(char_tokens=True), "\x00\x01")
