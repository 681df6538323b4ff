"""The Step-by-step view: its numpy math against the model's torch attention (masks, ReLU, scaling,
temperature), its check against real traces, its figure, and the page through AppTest."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import model
from components.figures.common import token_labels
from components.figures.steps import COLUMNS, step_figure, step_frame
from components.views.steps import TOLERANCE
from model.attention import AttentionRule, build_mask, default_scale, normalize, scaled_dot_product_attention
from model.experiments.playground import PlaygroundConfig, trace_playground
from model.readouts.steps import attention_weights, check_head, query_step, trace_step
from tests.apptest import run_app

pytestmark = pytest.mark.app

N, D = 7, 8


@pytest.fixture
def qkv() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal((3, N, D)) for _ in range(3))  # [head, pos, d_head]


def torch_reference(q, k, v, kind, normalizer, scale, temperature):
    mask = build_mask(kind, N, window=3)  # [query_pos, key_pos] or None
    z, scores, weights = scaled_dot_product_attention(
        *(torch.from_numpy(a) for a in (q, k, v)),
        mask=mask,
        normalizer=normalizer,
        scale=None if scale else 1.0,
        temperature=temperature,
    )
    return (None if mask is None else mask.numpy()), z.numpy(), scores.numpy(), weights.numpy()


def rule(mask=None, normalizer="softmax", scale=True, temperature=1.0) -> AttentionRule:
    """The layer rule of these settings (scale: divide by √D or not)."""
    factor = default_scale(D) if scale else 1.0
    return AttentionRule(mask=mask, normalizer=normalizer, scale=factor, temperature=temperature)


@pytest.mark.fast
@pytest.mark.parametrize("kind", ["none", "causal", "window"])
@pytest.mark.parametrize("normalizer", ["softmax", "relu"])
@pytest.mark.parametrize("scale, temperature", [(True, 1.0), (False, 1.0), (True, 0.5), (True, 3.0)])
def test_the_numpy_steps_match_the_models_torch_attention(qkv, kind, normalizer, scale, temperature):
    q, k, v = qkv
    mask, z, scores, weights = torch_reference(q, k, v, kind, normalizer, scale, temperature)
    settings = rule(mask, normalizer, scale, temperature)
    every = attention_weights(q, k, settings)  # all heads and rows at once
    # 1e-7, not 1e-12: torch's ReLU fallback (an even spread) is computed in float32 from a bool mask.
    np.testing.assert_allclose(every.scaled, scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(every.weights, weights, rtol=0, atol=1e-7)
    for h in range(3):
        for i in range(N):
            step = query_step(q[h, i], k[h], v[h], settings, i)
            np.testing.assert_allclose(step.dots, k[h] @ q[h, i], rtol=1e-12)
            np.testing.assert_allclose(step.weights, weights[h, i], rtol=0, atol=1e-7)
            np.testing.assert_allclose(step.output, z[h, i], rtol=0, atol=1e-6)
            np.testing.assert_allclose(step.weighted_values.sum(axis=0), step.output)
            assert step.weights.sum() == pytest.approx(1.0)
            if mask is not None:
                assert np.array_equal(step.visible, mask[i])
                assert np.all(np.isneginf(step.logits[~mask[i]])) and np.all(step.weights[~mask[i]] == 0)


@pytest.mark.fast
def test_float32_inputs_agree_with_torch_float32_to_the_view_tolerance(qkv):
    q, k, v = (a.astype(np.float32) for a in qkv)
    mask, z, _, weights = torch_reference(q, k, v, "causal", "softmax", True, 1.0)
    assert np.abs(attention_weights(q, k, rule(mask)).weights - weights).max() < TOLERANCE


@pytest.mark.fast
def test_relu_row_without_a_positive_score_spreads_evenly_over_visible_keys():
    q_i = np.ones(D)
    k = -np.abs(np.random.default_rng(1).standard_normal((N, D)))  # every q·k < 0
    v = np.eye(N, D)
    mask_row = np.arange(N) <= 2  # a causal row: keys 0, 1, 2 visible
    step = query_step(q_i, k, v, rule(mask_row[None, :], "relu"), 0)
    np.testing.assert_allclose(step.weights, [1 / 3] * 3 + [0.0] * (N - 3))
    expected = normalize(torch.from_numpy(k @ q_i / np.sqrt(D))[None], torch.from_numpy(mask_row)[None], "relu")
    np.testing.assert_allclose(step.weights, expected[0].numpy())


@pytest.mark.fast
def test_bad_settings_are_refused(qkv):
    q, k, _ = qkv
    with pytest.raises(ValueError):
        attention_weights(q, k, rule(normalizer="max"))
    with pytest.raises(ValueError):
        attention_weights(q, k, rule(temperature=0.0))


@pytest.mark.fast
def test_the_table_has_one_row_per_key_and_shows_the_mask(qkv):
    q, k, v = qkv
    tokens = ["[CLS]", "i", "saw", "a", "saw", ".", "[SEP]"]
    mask = build_mask("causal", N).numpy()
    frame = step_frame(query_step(q[0, 3], k[0], v[0], rule(mask), 3), tokens)
    assert list(frame.columns) == list(COLUMNS) and frame.index.name == "j"
    assert frame["token"].tolist() == tokens
    assert frame["α′"].sum() == pytest.approx(1.0)
    assert np.isneginf(frame["mask"].iloc[4:]).all() and np.isfinite(frame["mask"].iloc[:4]).all()
    assert (frame["α′"].iloc[4:] == 0).all() and (frame["‖α′·v‖"].iloc[4:] == 0).all()


@pytest.mark.models
def test_the_pretrained_trace_passes_its_own_check_in_every_head(pretrained):
    trace = model.trace_encoder(pretrained, "I saw a saw, and the saw was sharp.")
    for layer in range(trace.n_layers):
        for head in range(trace.n_heads):
            query = (layer + head) % trace.n_positions
            check = check_head(trace, layer, head, trace_step(trace, layer, head, query), query)
            assert check.alpha < TOLERANCE and check.output < TOLERANCE, (layer, head, check)


@pytest.mark.fast
@pytest.mark.parametrize(
    "config",
    [
        PlaygroundConfig(mask="causal", normalizer="relu", char_tokens=True),
        PlaygroundConfig(mask="window", window=2, temperature=0.5, char_tokens=True),
        PlaygroundConfig(scale=False, temperature=2.0, n_layers=2, char_tokens=True),
    ],
    ids=["causal-relu", "window-cold", "unscaled-warm"],
)
def test_a_playground_trace_passes_the_check_with_its_own_settings(config):
    trace = trace_playground(config, "I saw a saw")
    for layer in range(trace.n_layers):
        for query in range(trace.n_positions):
            step = trace_step(trace, layer, 1, query)
            check = check_head(trace, layer, 1, step, query)
            assert check.alpha < TOLERANCE and check.output < TOLERANCE, (config, query, check)
            if trace.layers[layer].rule.mask is not None:
                assert np.array_equal(step.visible, trace.layers[layer].rule.mask[query])


@pytest.mark.models
def test_the_check_notices_an_output_that_does_not_follow_the_formula(pretrained):
    trace = model.trace_encoder(pretrained, "The cat sat.")
    layer = trace.layers[2]
    shifted = layer.z + 0.1  # what the forward pass would have produced had it not used α′·v
    tampered = dataclasses.replace(trace, layers=(*trace.layers[:2], dataclasses.replace(layer, z=shifted)))
    assert check_head(trace, 2, 0, trace_step(trace, 2, 0, 1), 1).output < 1e-5
    assert check_head(tampered, 2, 0, trace_step(tampered, 2, 0, 1), 1).output > 1e-2


@pytest.mark.fast
def test_the_figure_keeps_repeated_tokens_apart_and_ends_with_the_sum(qkv):
    q, k, v = qkv
    labels = token_labels(["[CLS]", "i", "saw", "a", "saw", "<b>x</b>", "[SEP]"])
    step = query_step(q[0, 2], k[0], v[0], rule(build_mask("causal", N).numpy()), 2)
    fig = step_figure(step, labels, sum_label="Σ = b2")
    (bar,) = [t for t in fig.data if t.type == "bar"]
    (heat,) = [t for t in fig.data if t.type == "heatmap"]
    assert list(bar.x) == labels and len(set(bar.x)) == N and "&lt;b&gt;" in bar.x[5]
    assert list(heat.x) == [*labels, "Σ = b2"]
    z = np.asarray(heat.z)  # [d_head, key_pos + 1]
    np.testing.assert_allclose(z[:, -1], step.output, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z[:, :-1].sum(axis=1), step.output, rtol=1e-4, atol=1e-5)
    axis = fig.layout.coloraxis
    assert axis.cmid == 0 and axis.cmin == -axis.cmax
    hidden = [color for color, seen in zip(bar.marker.color, step.visible, strict=True) if not seen]
    assert hidden and set(hidden) == {"#bdbdbd"}


# ── The page ──────────────────────────────────────────────────────────────────────────────────────


def titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_the_view_walks_one_query_through_six_steps_with_a_green_check():
    at = run_app("steps", text="I saw a saw", query="4")
    assert not at.exception and not at.error
    assert at.selectbox(key="query").value == 4
    assert at.selectbox(key="query").options == ["0 [CLS]", "1 i", "2 saw", "3 a", "4 saw", "5 [SEP]"]
    steps = "\n".join(m.value for m in at.markdown)
    for number in "①②③④⑤⑥":
        assert number in steps
    assert "No mask — every key visible" in steps
    badges = [s.value for s in at.success]
    assert any("max |Δα′|" in b and "✓" in b and "6 × 6" in b for b in badges), badges
    assert any("max |Δb|" in b and "✓" in b for b in badges), badges
    frame = at.dataframe[0].value
    assert len(frame) == 6 and frame["α′"].sum() == pytest.approx(1.0)
    assert any("4 saw" in title for title in titles(at))


def test_chinese_steps():
    at = run_app("steps", lang="zh")
    assert not at.exception and not at.error
    steps = "\n".join(m.value for m in at.markdown)
    assert "没有掩码" in steps and "加权求和" in steps
    assert "掩码后" in at.dataframe[0].value.columns


def test_a_query_beyond_the_sentence_is_clamped_with_a_notice_at_once():
    at = run_app("steps", text="I saw a saw", query="40")
    assert not at.exception
    assert at.selectbox(key="query").value == 5
    assert any("40" in w.value and "5" in w.value for w in at.warning)


def test_picking_a_query_reslices_the_cached_trace_and_goes_into_the_link(model_runs):
    calls = model_runs
    at = run_app("steps", text="Counting model runs in the steps view")
    assert len(calls) == 1
    at.selectbox(key="query").set_value(3).run()
    at.select_slider(key="head").set_value(7).run()
    assert not at.exception and len(calls) == 1
    assert at.query_params["query"] == "3"


def test_the_query_survives_a_visit_to_another_view():
    at = run_app("steps", text="I saw a saw", query="4")
    at.segmented_control(key="view").set_value("attention").run()
    at.segmented_control(key="view").set_value("steps").run()
    assert at.selectbox(key="query").value == 4


def test_hiding_special_tokens_keeps_every_key_and_says_why():
    at = run_app("steps", hide_special="1")
    assert not at.exception
    assert "[CLS]" in at.dataframe[0].value["token"].tolist()
    assert any("[CLS]" in c.value for c in at.caption)


def test_a_masked_relu_trace_shows_its_hidden_keys():
    def page():
        from components.context import ViewContext
        from components.session import init_state
        from components.views.steps import render_trace
        from model.experiments.playground import PlaygroundConfig, trace_playground

        init_state()
        config = PlaygroundConfig(mask="causal", normalizer="relu", char_tokens=True)
        trace = trace_playground(config, "I saw a saw")
        ctx = ViewContext(lang="en", text="", view="steps", layer=0, head=0, hide_special=False, presentation=False)
        render_trace(ctx, trace, 0, 0)

    at = AppTest.from_function(page, default_timeout=60)
    at.query_params["query"] = "2"
    at.run()
    assert not at.exception and not at.error
    steps = "\n".join(m.value for m in at.markdown)
    assert "5 of the 8 keys are hidden" in steps and "−∞" in steps
    assert "ReLU instead of softmax" in steps
    frame = at.dataframe[0].value
    assert np.isneginf(frame["after mask"].iloc[3:]).all() and (frame["α′"].iloc[3:] == 0).all()
    assert len(at.success) == 2


# ── Each model's own formulas ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "model, q, k, v, position",
    [
        ("all-MiniLM-L6-v2", "W^q·aᵢ + bias", "W^k·aⱼ + bias", "W^v·aⱼ + bias", "already holds the token's position"),
        ("multilingual-e5-small", "W^q·aᵢ + bias", "W^k·aⱼ + bias", "W^v·aⱼ + bias", "already holds"),
        ("SmolLM2-135M-Instruct", "RoPEᵢ(W^q·RMSNorm(aᵢ))", "RoPEⱼ(W^k·RMSNorm(aⱼ))", "W^v·RMSNorm(aⱼ)",
         "The position enters here, through RoPE"),
    ],
)  # fmt: skip
def test_steps_one_two_and_six_write_the_model_s_own_formula(model, q, k, v, position):
    """Not the encoder's qᵢ = W^q·aᵢ on every model (issue 20, item 3): SmolLM2's printed q is RoPEᵢ(W^q·RMSNorm(aᵢ));
    a decoder's step ② says that the largest score is usually position 0, the attention sink."""
    at = run_app("steps", model=model, text="The cat sat on the mat.", query="3")
    assert not at.exception and not at.error
    steps = {m.value[:3]: m.value for m in at.markdown if m.value.startswith("**")}
    assert steps["**①"].startswith(f"**① Query.** qᵢ = {q}: ") and position in steps["**①"]
    assert f"kⱼ = {k} (column q·k)" in steps["**②"]
    assert f"vⱼ = {v}: each value" in steps["**⑥"]
    if model.startswith("SmolLM2"):
        assert "attention sink" in steps["**②"] and "grouped-query attention" in steps["**②"]
    else:
        assert "sink" not in steps["**②"]
    zh = run_app("steps", model=model, text="The cat sat on the mat.", query="3", lang="zh")
    assert any(m.value.startswith(f"**① 查询向量。** qᵢ = {q}：") for m in zh.markdown)


def test_an_operator_s_gpt2_folder_gets_its_pre_norm_formula(tmp_path, monkeypatch):
    from tests import tiny_models

    folder = tiny_models.gpt2_folder(tmp_path / "gpt2-tiny")
    monkeypatch.setenv("ATTENTION_LAB_MODELS", str(folder))
    at = run_app("steps", model=folder.name, text="I saw a saw", query="2", layer="0", head="0")
    assert not at.exception and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert "qᵢ = W^q·LayerNorm(aᵢ) + bias: normalize the vector aᵢ" in text
    assert "kⱼ = W^k·LayerNorm(aⱼ) + bias" in text and "vⱼ = W^v·LayerNorm(aⱼ) + bias" in text
    assert "normalizes with LayerNorm before each part" in text and "two linear maps with GELU" in text


def test_a_decoder_s_largest_score_is_usually_at_position_0():
    """Against the world, for what step ② tells a class on SmolLM2: over 30 corpus sentences, every layer, head and
    query past the first, position 0 has the largest q·k among the visible keys in most rows (73 % when measured)."""
    from model.experiments.atlas import read_sentences
    from model.registry import load_named, trace_any

    loaded = load_named("SmolLM2-135M-Instruct")
    at_zero = total = 0
    for sentence in read_sentences("assets/corpus/en.txt")[:30]:
        trace = trace_any(loaded, sentence)
        for lt in trace.layers:
            dots = np.einsum("hqd,hkd->hqk", lt.q, lt.k)  # [head, query_pos, key_pos]
            dots = np.where(lt.rule.visible(trace.n_positions), dots, -np.inf)[:, 1:]  # past query 0
            best = dots.argmax(-1)
            at_zero += int((best == 0).sum())
            total += best.size
    assert at_zero / total > 0.6
