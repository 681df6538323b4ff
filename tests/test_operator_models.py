"""Operator-chosen model folders (tests/tiny_models.py builds tiny random ones): how they are listed, checked,
refused and offered in the page. What every family's trace promises is tests/test_families.py's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from model.errors import InvalidConfigError
from model.families.gpt2 import GPT2Model
from model.registry import (
    BUILT_IN,
    DEFAULT_MODEL,
    MODELS_ENV,
    load_model,
    load_named,
    model_names,
    operator_model_paths,
    trace_any,
)
from tests import tiny_models
from tests.blanks import joined
from tests.tiny_models import copy_of, edit_config

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    return tiny_models.bert_folder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def xlmr_dir(tmp_path_factory) -> Path:
    return tiny_models.xlm_roberta_folder(tmp_path_factory.mktemp("tiny-xlmr"))


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory) -> Path:
    return tiny_models.gpt2_folder(tmp_path_factory.mktemp("tiny-gpt2"))


def test_gpt2_tokens_read_as_the_text(gpt2_dir):
    text = "The bank of the river"
    trace = trace_any(load_model(gpt2_dir), text)
    assert joined(trace.tokens) == text  # a token of spaces alone is shown as ␣ (model.tokens.show_blank)
    assert not any(trace.special)


def test_gpt2_head_weights_reproduce_traced_q(gpt2_dir):
    loaded = load_model(gpt2_dir)
    trace = trace_any(loaded, "The bank approved the loan")
    head, d_head = 2, 8
    w = loaded.head_matrices(layer=0, head=head)
    assert w["W_Q"].shape == w["W_K"].shape == w["W_V"].shape == (d_head, 32)
    p = loaded.params
    x = torch.from_numpy(trace.token_embeddings + trace.position_embeddings)  # layer 0's input
    h = torch.nn.functional.layer_norm(x, (32,), p["h.0.ln_1.weight"], p["h.0.ln_1.bias"], 1e-5).numpy()
    bias = p["h.0.attn.c_attn.bias"].numpy()
    for part, (name, traced) in enumerate((("W_Q", trace.layers[0].q), ("W_K", trace.layers[0].k))):
        b = bias[part * 32 + head * d_head : part * 32 + (head + 1) * d_head]
        np.testing.assert_allclose(h @ w[name].T + b, traced[head], atol=1e-5)


# --- folders that must be refused --------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(InvalidConfigError, match="is not a folder"):
        load_model(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    with pytest.raises(InvalidConfigError, match="missing config.json, tokenizer.json, model.safetensors"):
        load_model(tmp_path)


@pytest.mark.parametrize("source", ["bert_dir", "gpt2_dir"])
def test_pickle_only_folder_is_refused_without_loading_it(source, request, tmp_path):
    folder = copy_of(request.getfixturevalue(source), tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not even a pickle: it must never be opened")
    with pytest.raises(InvalidConfigError, match="only as pytorch_model.bin: Attention Lab reads safetensors only"):
        load_model(folder)


def test_sharded_weights_are_refused(gpt2_dir, tmp_path):
    folder = copy_of(gpt2_dir, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text("{}")
    with pytest.raises(InvalidConfigError, match="sharded"):
        load_model(folder)


def test_missing_tokenizer(bert_dir, tmp_path):
    folder = copy_of(bert_dir, tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(InvalidConfigError, match="missing tokenizer.json"):
        load_model(folder)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_malformed_config_json(gpt2_dir, tmp_path, text):
    folder = copy_of(gpt2_dir, tmp_path)
    (folder / "config.json").write_text(text)
    with pytest.raises(InvalidConfigError, match="config.json"):
        load_model(folder)


@pytest.mark.parametrize(
    ("source", "changes", "message"),
    [
        ("gpt2_dir", {"model_type": "mamba"}, "model_type 'mamba'; supported are bert, xlm-roberta, gpt2, llama"),
        ("gpt2_dir", {"model_type": None}, "model_type None"),
        ("bert_dir", {"model_type": "roberta"}, "model_type 'roberta'"),
        ("gpt2_dir", {"n_embd": None}, "lacks 'n_embd'"),
        ("gpt2_dir", {"n_head": 5}, "5 heads do not divide the model width 32"),
        ("gpt2_dir", {"activation_function": "swish"}, "unsupported activation_function"),
        ("gpt2_dir", {"scale_attn_by_inverse_layer_idx": True}, "not supported"),
        ("bert_dir", {"hidden_size": None}, "lacks 'hidden_size'"),
        ("bert_dir", {"hidden_size": 0}, "hidden_size must be a positive integer"),
        ("gpt2_dir", {"layer_norm_epsilon": "tiny"}, "layer_norm_epsilon must be a positive number"),
        ("bert_dir", {"num_attention_heads": "4"}, "num_attention_heads must be a positive integer"),
        ("bert_dir", {"num_attention_heads": 5}, "5 heads do not divide"),
        ("bert_dir", {"position_embedding_type": "relative_key"}, "absolute position embeddings"),
    ],
)
def test_bad_config_values(request, tmp_path, source, changes, message):
    folder = copy_of(request.getfixturevalue(source), tmp_path)
    edit_config(folder, **changes)
    with pytest.raises(InvalidConfigError, match=message):
        load_model(folder)


def test_unreadable_tokenizer(bert_dir, tmp_path):
    folder = copy_of(bert_dir, tmp_path)
    (folder / "tokenizer.json").write_text("<html>404</html>")
    with pytest.raises(InvalidConfigError, match="tokenizer.json cannot be read"):
        load_model(folder)


@pytest.mark.parametrize("source", ["bert_dir", "gpt2_dir"])
def test_unreadable_weights(request, tmp_path, source):
    folder = copy_of(request.getfixturevalue(source), tmp_path)
    (folder / "model.safetensors").write_bytes(b"garbage, not safetensors")
    with pytest.raises(InvalidConfigError, match="model.safetensors cannot be read"):
        load_model(folder)


@pytest.mark.parametrize(
    ("source", "weight"), [("bert_dir", "encoder.layer.1.output.dense.weight"), ("gpt2_dir", "h.1.mlp.c_fc.weight")]
)
def test_weights_missing_from_the_file(request, tmp_path, source, weight):
    folder = copy_of(request.getfixturevalue(source), tmp_path)
    tensors = load_file(folder / "model.safetensors")
    del tensors[weight]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InvalidConfigError, match=f"lacks 1 weights, e.g. {weight}"):
        load_model(folder)


def test_trace_any_rejects_other_objects():
    with pytest.raises(TypeError, match="not a loaded model"):
        trace_any(object(), "text")


# --- where operators list their models -----------------------------------------------------------------------


def test_env_var_lists_folders_by_name(tmp_path):
    env = {MODELS_ENV: os.pathsep.join([str(tmp_path / "gpt2"), "", f" {tmp_path / 'bert-tiny'}/ ", "~/models/x"])}
    paths = operator_model_paths(environ=env, config_file=tmp_path / "absent.toml")
    assert paths == {
        "gpt2": tmp_path / "gpt2",
        "bert-tiny": tmp_path / "bert-tiny",
        "x": Path("~/models/x").expanduser(),
    }


def test_nothing_configured_means_no_operator_models(tmp_path):
    assert operator_model_paths(environ={}, config_file=tmp_path / "absent.toml") == {}


def test_toml_file_lists_named_folders_relative_to_itself(tmp_path):
    file = tmp_path / "attention_lab_models.toml"
    file.write_text(
        '[[models]]\nname = "GPT-2 small"\npath = "models/gpt2"\n\n[[models]]\nname = "b"\npath = "/srv/b"\n'
    )
    env = {MODELS_ENV: str(tmp_path / "other")}
    paths = operator_model_paths(environ=env, config_file=file)
    assert list(paths) == ["GPT-2 small", "b", "other"]
    assert paths["GPT-2 small"] == tmp_path / "models" / "gpt2" and paths["b"] == Path("/srv/b")


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[[models]\n", "", "not valid TOML"),
        ('[[model]]\nname = "a"\npath = "/a"\n', "", "unknown key 'model'"),
        ('models = "a"\n', "", "must be a list"),
        ('[[models]]\nname = "a"\n', "", r"models\[0\] needs a name and a path"),
        ('[[models]]\nname = "a"\npath = "/a"\n[[models]]\nname = "a"\npath = "/b"\n', "", "'a' is already taken"),
        ('[[models]]\nname = "a"\npath = "/a"\n', "/elsewhere/a", "'a' is already taken"),
        (f'[[models]]\nname = "{DEFAULT_MODEL}"\npath = "/a"\n', "", "already taken"),
        ("", "/", "without a name"),
    ],
)
def test_bad_model_lists(tmp_path, toml, env, message):
    file = tmp_path / "attention_lab_models.toml"
    file.write_text(toml)
    with pytest.raises(InvalidConfigError, match=message):
        operator_model_paths(environ={MODELS_ENV: env}, config_file=file)


def test_models_are_loaded_by_name_only(gpt2_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("model.registry.MODELS_FILE", tmp_path / "absent.toml")
    monkeypatch.setenv(MODELS_ENV, str(gpt2_dir))
    assert model_names() == [*BUILT_IN, gpt2_dir.name] and model_names()[0] == DEFAULT_MODEL
    loaded = load_named(gpt2_dir.name, device="cpu")
    assert isinstance(loaded, GPT2Model) and loaded.name == gpt2_dir.name
    with pytest.raises(InvalidConfigError, match="unknown model '/etc'"):
        load_named("/etc")


def test_bundled_model_is_the_default(pretrained):
    loaded = load_model(device="cpu")
    assert loaded.name == DEFAULT_MODEL == pretrained.name
    assert trace_any(loaded, "I saw a saw").tokens == ("[CLS]", "i", "saw", "a", "saw", "[SEP]")


def test_the_page_offers_an_operator_model_and_draws_its_causal_attention(gpt2_dir, monkeypatch):
    """Through the whole page: the operator's GPT-2 folder appears in the sidebar and is traced."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ATTENTION_LAB_MODELS", str(gpt2_dir))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.query_params["model"] = gpt2_dir.name
    at.query_params["text"] = "a b c a"
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="model").value == gpt2_dir.name

    z = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    assert z, "the α heatmap is drawn"


def test_the_page_falls_back_when_a_link_names_an_unknown_model(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("ATTENTION_LAB_MODELS", raising=False)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.query_params["model"] = "../../etc/passwd"
    at.run()
    assert not at.exception
    assert any("etc/passwd" in w.value for w in at.warning)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_gpt2_next_token_probabilities_match_transformers(gpt2_dir, temperature):
    from model.readouts.next_word import next_tokens, probabilities

    loaded = load_model(gpt2_dir, device="cpu")
    text = "The bank of the river"
    trace = trace_any(loaded, text)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(str(gpt2_dir)).eval()  # its head is tied to wte
    with torch.no_grad():
        logits = hf_model(torch.tensor([list(trace.token_ids)])).logits[0]  # [pos, vocab]
    for position in (0, trace.n_positions - 1):
        expected = torch.softmax(logits[position].double() / temperature, dim=-1).numpy()
        ours = next_tokens(loaded, trace, position, k=5, temperature=temperature)
        assert [c.token_id for c in ours] == list(np.argsort(-expected, kind="stable")[:5])
        np.testing.assert_allclose([c.probability for c in ours], expected[[c.token_id for c in ours]], atol=1e-5)
        hidden = trace.layers[-1].output[position : position + 1]
        np.testing.assert_allclose(probabilities(loaded.next_token_logits(hidden)[0], temperature), expected, atol=1e-5)
