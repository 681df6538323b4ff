"""The family contract, held for every family the registry runs: each built-in model, and a tiny random folder of
every model_type an operator may list (BERT, XLM-RoBERTa, GPT-2, Llama with grouped-query heads, Llama with a wide
head). What every family's trace promises is written once here; what is a family's own (its tokenizer, its file
format, a reference other than its exported folder) stays in that family's test file.

The contract:
- every layer's rule gives back the α′ its forward pass computed: softmax(rule.scale · q·kᵀ) over the keys the rule
  shows, within 1e-5, on the forward pass's own weights (recorded while it runs), not on a recomputation;
- shapes follow the config; rows sum to 1; a decoder's queries see no later key;
- an ablated key is gone from its head and nowhere else: from one query's output (the importance test's default),
  or from every query of the head (its second variant);
- the config's Architecture, from which the page writes the model's formulas, makes the traced q, k and v;
- without positions there is no position information; empty text is refused; long text is cut;
- the folder `python -m model.export` writes computes the same α′, outputs (and next-token probabilities for a
  decoder) in transformers.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

import model
from model.export import export
from model.families.blocks import recorded_weights
from model.registry import BUILT_IN, load_model, load_named, trace_any
from tests import tiny_models

pytestmark = pytest.mark.models

transformers = pytest.importorskip("transformers")

FOLDERS = {
    "bert-folder": tiny_models.bert_folder,
    "xlm-roberta-folder": tiny_models.xlm_roberta_folder,
    "gpt2-folder": tiny_models.gpt2_folder,
    "llama-gqa-folder": tiny_models.gqa_llama_folder,
    "llama-wide-head-folder": tiny_models.wide_head_llama_folder,
}
CASES = [*BUILT_IN, *FOLDERS]
TEXT = "The bank of the river was steep."  # within the tiny folders' 24 positions
LONG = "The bank approved the loan. " * 120  # beyond 512 tokens for every built-in model, beyond 24 for the folders


@pytest.fixture(scope="module", params=CASES)
def loaded(request, tmp_path_factory):
    """Every family's model, loaded once for the module: a built-in one by name, a tiny folder built for it."""
    if request.param in BUILT_IN:
        return load_named(request.param, device="cpu")
    folder = FOLDERS[request.param](tmp_path_factory.mktemp(request.param))
    return load_model(folder, device="cpu")


def forward_pass_weights(loaded, text: str, **options) -> tuple[model.AttentionTrace, list[np.ndarray]]:
    """The trace of `text` and the α′ its forward pass computed, layer by layer ([head, query_pos, key_pos] each)."""
    with recorded_weights() as recorded:
        trace = trace_any(loaded, text, **options)
    return trace, recorded


@pytest.mark.parametrize("text", [TEXT, LONG], ids=["sentence", "long"])
def test_every_layers_rule_gives_back_the_forward_passs_own_weights(loaded, text):
    trace, recorded = forward_pass_weights(loaded, text)
    assert len(recorded) == trace.n_layers
    n = trace.n_positions
    for i, (layer, own) in enumerate(zip(trace.layers, recorded, strict=True)):
        rule = layer.rule
        q, k = (
            torch.from_numpy(np.array(layer.q)).double(),
            torch.from_numpy(np.array(layer.k)).double(),
        )  # [head, pos, d_head]
        scores = rule.scale * (q @ k.transpose(-1, -2)) / rule.temperature  # [head, query_pos, key_pos]
        visible = torch.from_numpy(rule.visible(n).copy())  # [query_pos, key_pos]
        expected = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1).numpy()
        np.testing.assert_allclose(own, expected, atol=1e-5, err_msg=f"layer {i}: the rule is not the model's")
        np.testing.assert_allclose(layer.weights, own, atol=1e-5, err_msg=f"layer {i}: the trace's α′")


def test_the_trace_has_the_shapes_of_the_config(loaded):
    cfg, trace = loaded.config, trace_any(loaded, TEXT)
    n = trace.n_positions
    assert trace.n_layers == cfg.n_layers and trace.n_heads == cfg.n_heads and trace.d_head == cfg.d_head
    assert len(trace.special) == len(trace.token_ids) == len(trace.word_ids) == len(trace.unknown) == n
    for layer in trace.layers:
        assert layer.q.shape == layer.k.shape == layer.v.shape == layer.z.shape == (cfg.n_heads, n, cfg.d_head)
        assert layer.scores.shape == layer.weights.shape == (cfg.n_heads, n, n)
        assert layer.output.shape == (n, cfg.d_model) and layer.concat.shape == (n, cfg.n_heads * cfg.d_head)
        assert all(not a.flags.writeable for a in (layer.q, layer.k, layer.v, layer.z, layer.output, layer.weights))
    assert trace.token_embeddings.shape == trace.position_embeddings.shape == (n, cfg.d_model)
    assert not trace.truncated and trace.device == "cpu" and trace.model_name == loaded.name
    copy = pickle.loads(pickle.dumps(trace))  # Streamlit may cache it
    np.testing.assert_array_equal(copy.layers[-1].weights, trace.layers[-1].weights)


def test_rows_sum_to_one_and_a_decoder_sees_no_later_key(loaded):
    trace = trace_any(loaded, TEXT)
    n = trace.n_positions
    later = np.triu(np.ones((n, n), dtype=bool), k=1)  # [query_pos, key_pos]: keys after the query
    for layer in trace.layers:
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-5)
        if loaded.decoder:
            np.testing.assert_array_equal(layer.rule.visible(n), ~later)
            assert (layer.weights[:, later] == 0).all()
        else:
            assert layer.rule.mask is None and (layer.weights[:, later] > 0).all()


def test_grouped_heads_share_their_keys_and_values(loaded):
    trace = trace_any(loaded, TEXT)
    kv = trace.kv_heads or tuple(range(trace.n_heads))
    for layer in trace.layers:
        for head in range(trace.n_heads):
            first = kv.index(kv[head])  # the first query head reading the same key/value head
            np.testing.assert_array_equal(layer.k[head], layer.k[first])
            np.testing.assert_array_equal(layer.v[head], layer.v[first])
            matrices = loaded.head_matrices(trace.n_layers - 1, head)
            assert matrices["W_Q"].shape == (trace.d_head, trace.d_model) == matrices["W_O"].T.shape


def test_an_ablated_key_is_gone_from_its_head_and_nowhere_else(loaded):
    """Ablation(layer, head, key), the whole-head variant, removes one key from one query head as if its value
    were zero there: the layers below are untouched, the head's output is α′·v without that key's term for every
    query, the other heads of the layer (those sharing its key/value head too) are unchanged, and the last layer
    moves."""
    layer_index, key = 1, 3
    head = loaded.config.n_heads - 1
    plain = trace_any(loaded, TEXT)
    cut = trace_any(loaded, TEXT, ablate=model.Ablation(layer=layer_index, head=head, key=key))
    np.testing.assert_array_equal(cut.layers[0].output, plain.layers[0].output)
    before, after = plain.layers[layer_index], cut.layers[layer_index]
    expected = before.z[head] - np.outer(before.weights[head][:, key], before.v[head, key])  # [query_pos, d_head]
    # float32 in two orders (torch's sum without the term, numpy's sum minus it): Gemma's |v| reach ~10, so relative
    np.testing.assert_allclose(after.z[head], expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.delete(after.z, head, axis=0), np.delete(before.z, head, axis=0), atol=1e-6)
    assert np.abs(cut.layers[-1].output - plain.layers[-1].output).max() > 1e-4


def test_a_key_removed_from_one_query_is_gone_from_that_query_alone(loaded):
    """Ablation(layer, head, key, query), the importance test's default: zᵢ − α′ᵢⱼ·vⱼ for that one query of that
    head, computed here by hand from the plain trace; every other query of the head and every other head of the
    layer keep their output exactly, the layers below are untouched, and the query's last-layer vector moves."""
    layer_index, key, query = 1, 1, 4  # a decoder's query 4 sees key 1
    head = loaded.config.n_heads - 1
    plain = trace_any(loaded, TEXT)
    cut = trace_any(loaded, TEXT, ablate=model.Ablation(layer=layer_index, head=head, key=key, query=query))
    np.testing.assert_array_equal(cut.layers[0].output, plain.layers[0].output)
    before, after = plain.layers[layer_index], cut.layers[layer_index]
    by_hand = before.z[head, query] - before.weights[head, query, key] * before.v[head, key]  # [d_head]
    np.testing.assert_allclose(after.z[head, query], by_hand, atol=1e-5)
    assert np.abs(after.z[head, query] - before.z[head, query]).max() > 1e-6, "the term was not zero"
    others = np.ones(before.z.shape[:2], dtype=bool)  # [head, pos]
    others[head, query] = False
    np.testing.assert_array_equal(after.z[others], before.z[others])
    np.testing.assert_array_equal(after.weights, before.weights)
    np.testing.assert_array_equal(after.v, before.v)
    moved = np.abs(cut.layers[-1].output - plain.layers[-1].output).max(axis=-1)  # [pos]
    assert moved[query] > 1e-4
    if loaded.decoder:  # the queries before it cannot see it, in any layer
        np.testing.assert_array_equal(cut.layers[-1].output[:query], plain.layers[-1].output[:query])


def _input_norm_and_bias(loaded, layer: int, head: int) -> tuple[dict, dict]:
    """The parameters the Architecture's formula names, looked up by each family's own weight names (the one place
    a family is named here): the norm before attention (γ, and β for LayerNorm) and the q, k, v biases of one
    head. A family whose Architecture claims a part it lacks fails here with a KeyError."""
    arch, p, d = loaded.config.architecture, loaded.params, loaded.config.d_head
    kv = (loaded.config.kv_heads[head] if hasattr(loaded.config, "kv_heads") else head) * d
    rows = {"q": slice(head * d, (head + 1) * d), "k": slice(kv, kv + d), "v": slice(kv, kv + d)}
    kind = type(loaded).__name__
    names = {
        "EncoderModel": (None, {part: f"encoder.layer.{layer}.attention.self.{name}.bias" for part, name in
                                (("q", "query"), ("k", "key"), ("v", "value"))}),
        "GPT2Model": (f"h.{layer}.ln_1", {part: f"h.{layer}.attn.c_attn.bias" for part in "qkv"}),
        "LlamaModel": (f"layers.{layer}.input_layernorm", {}),
        "Gemma3Model": (f"layers.{layer}.input_layernorm", {}),
    }[kind]  # fmt: skip
    gain = 1.0 if kind == "Gemma3Model" else 0.0  # Gemma's RMSNorm multiplies by 1 + γ
    norm = {}
    if arch.qk_norm:  # each head's q and k normed after W^q, W^k (Gemma 3)
        for part in "qk":
            norm[part] = gain + p[f"layers.{layer}.self_attn.{part}_norm.weight"].double().numpy()
    if arch.norm_first:
        norm["weight"] = gain + p[names[0] + ".weight"].double().numpy()
        if arch.norm == "layer_norm":
            norm["bias"] = p[names[0] + ".bias"].double().numpy()
    biases = {}
    if arch.bias:
        width = loaded.config.d_model
        for n, part in enumerate("qkv"):
            bias = p[names[1][part]].double().numpy()
            offset = n * width if kind == "GPT2Model" else 0  # GPT-2's q, k, v biases sit side by side
            biases[part] = bias[offset + rows[part].start : offset + rows[part].stop]
    return norm, biases


def test_the_architecture_writes_the_formula_that_makes_the_traced_q_k_v(loaded):
    """The page writes each model's q, k, v from its config's Architecture (qᵢ = RoPEᵢ(W^q·RMSNorm(aᵢ)) …): that
    formula, computed here in float64 from the layer's input (the layer below's output), the head's rows of W^q,
    W^k, W^v and the parameters it names, with RoPE written out pair by pair, gives the traced q, k, v."""
    from model.families.architecture import vector_formula

    arch = loaded.config.architecture
    layer, head = 1, loaded.config.n_heads - 1
    trace = trace_any(loaded, TEXT)
    a = trace.layers[layer - 1].output.astype(np.float64)  # [pos, d_model]  the layer's input aᵢ, every token
    norm, biases = _input_norm_and_bias(loaded, layer, head)
    x = a
    if arch.norm_first and arch.norm == "rms_norm":
        x = a / np.sqrt((a * a).mean(-1, keepdims=True) + loaded.config.rms_norm_eps) * norm["weight"]
    elif arch.norm_first:
        centred = a - a.mean(-1, keepdims=True)
        eps = loaded.config.layer_norm_eps
        x = centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + eps) * norm["weight"] + norm["bias"]
    matrices = loaded.head_matrices(layer, head)
    d = trace.d_head
    for part in "qkv":
        made = x @ matrices[f"W_{part.upper()}"].astype(np.float64).T + (biases[part] if arch.bias else 0.0)
        if arch.qk_norm and part != "v":
            made = made / np.sqrt((made * made).mean(-1, keepdims=True) + loaded.config.rms_norm_eps) * norm[part]
        if arch.rope and part != "v":
            base = trace.layers[layer].rule.rope_base
            for m in range(trace.n_positions):  # pair (f, f + d/2) turned by m·base^(−2f/d)
                for f in range(d // 2):
                    angle = m * base ** (-2 * f / d)
                    c, s_ = math.cos(angle), math.sin(angle)
                    first, second = made[m, f], made[m, f + d // 2]
                    made[m, f], made[m, f + d // 2] = first * c - second * s_, first * s_ + second * c
        traced = getattr(trace.layers[layer], part)[head]  # [pos, d_head]
        np.testing.assert_allclose(made, traced, atol=2e-4, rtol=1e-4, err_msg=vector_formula(arch, part))


def test_without_positions_the_model_has_no_position_information(loaded):
    text = "I saw a saw and a saw"
    trace = trace_any(loaded, text, with_positions=False)
    assert not trace.with_positions and not trace.position_embeddings.any()
    assert all(layer.rule.rope_base is None for layer in trace.layers)
    with_them = trace_any(loaded, text)
    assert not np.allclose(with_them.layers[-1].output, trace.layers[-1].output, atol=1e-4)
    if not loaded.decoder:  # a bag of tokens: two copies of a token come out the same in every layer
        pieces = [i for i, token in enumerate(trace.tokens) if trace.tokens.count(token) > 1 and not trace.special[i]]
        first, second = pieces[0], trace.tokens.index(trace.tokens[pieces[0]], pieces[0] + 1)
        for layer in trace.layers:
            np.testing.assert_allclose(layer.output[first], layer.output[second], atol=1e-5)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_refused_with_a_message(loaded, text):
    with pytest.raises(model.EmptyTextError, match="empty"):
        trace_any(loaded, text)


def test_long_text_is_cut_to_what_the_model_takes(loaded):
    trace = trace_any(loaded, LONG)
    assert trace.truncated and trace.n_positions == min(512, loaded.config.max_positions)


def test_the_exported_folder_computes_the_same_in_transformers(loaded, tmp_path):
    """`python -m model.export`'s folder in transformers' own classes: the same token ids, α′ and outputs, and for a
    decoder the same next-token probabilities."""
    folder = export(loaded, tmp_path / "out")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    auto = transformers.AutoModelForCausalLM if loaded.decoder else transformers.AutoModel
    hf_model = auto.from_pretrained(str(folder), attn_implementation="eager").eval()
    trace = trace_any(loaded, TEXT)
    assert tuple(tokenizer(TEXT)["input_ids"]) == trace.token_ids
    with torch.no_grad():
        out = hf_model(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == trace.n_layers == len(out.hidden_states) - 1
    for i, (layer, expected, hidden) in enumerate(
        zip(trace.layers, out.attentions, out.hidden_states[1:], strict=True)
    ):
        np.testing.assert_allclose(layer.weights, expected[0].numpy(), atol=1e-4, err_msg=f"α′ of layer {i}")
        np.testing.assert_allclose(layer.output, hidden[0].numpy(), atol=1e-3, rtol=1e-4, err_msg=f"layer {i}")
    if loaded.decoder:
        ours = torch.softmax(torch.from_numpy(loaded.next_token_logits(trace.layers[-1].output)), dim=-1)
        np.testing.assert_allclose(ours.numpy(), torch.softmax(out.logits[0], dim=-1).numpy(), atol=1e-5)


def test_every_family_registers_once_and_names_its_models():
    from model.registry import BY_MODEL_TYPE, FAMILIES

    assert len({f.model_class for f in FAMILIES}) == len(FAMILIES)
    assert set(BY_MODEL_TYPE) >= {"bert", "xlm-roberta", "gpt2", "llama"}
    assert list(BUILT_IN)[0] == model.registry.DEFAULT_MODEL
    assert sum(len(f.built_in) for f in FAMILIES) == len(BUILT_IN)
