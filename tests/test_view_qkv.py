"""The Q · K · V view: the weight slices really make Q, K and V, the figures keep their shapes and
labels, and the page draws them (hiding [CLS]/[SEP] when asked) in both languages."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import model
from components.axis import axis_of
from components.i18n import t
from tests.apptest import APP, run_app, specs, z_of

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def trace(pretrained) -> model.AttentionTrace:
    return model.trace_encoder(pretrained, "I saw a saw.")


@pytest.mark.models
@pytest.mark.parametrize("layer, head", [(1, 0), (3, 1), (5, 11)])
def test_the_weight_slices_shown_make_the_heads_q_k_v(pretrained, trace, layer, head):
    """Q = X·W^qᵀ + b with X the previous layer's output: the slice drawn is the one the model used."""
    x = trace.layers[layer - 1].output  # [pos, d_model]
    d = trace.d_head
    rows = slice(head * d, (head + 1) * d)
    weights = pretrained.head_matrices(layer, head)
    for name, part in (("Q", "query"), ("K", "key"), ("V", "value")):
        w = weights[f"W_{name}"]
        assert w.shape == (d, trace.d_model)
        bias = pretrained.params[f"encoder.layer.{layer}.attention.self.{part}.bias"][rows].numpy()
        got = getattr(trace.layers[layer], name.lower())[head]  # [pos, d_head]
        np.testing.assert_allclose(x @ w.T + bias, got, atol=2e-4, rtol=1e-4)


@pytest.mark.models
def test_the_scores_are_q_times_k_transposed_over_root_d(trace):
    lt = trace.layers[2]
    expected = lt.q[4] @ lt.k[4].T / math.sqrt(trace.d_head)  # [query_pos, key_pos]
    np.testing.assert_allclose(lt.scores[4], expected, atol=1e-5, rtol=1e-5)


def test_q_k_v_share_one_token_axis_and_one_signed_scale(trace):
    at = run_app("qkv", text="I saw a saw.")
    spec = specs(at)[0]
    lt = trace.layers[3]
    labels = ["0 [CLS]", "1 i", "2 saw", "3 a", "4 saw", "5 .", "6 [SEP]"]
    assert len(spec["data"]) == 3
    for heat, matrix in zip(spec["data"], (lt.q[1], lt.k[1], lt.v[1]), strict=True):
        assert heat["y"] == labels and heat["coloraxis"] == "coloraxis"
        np.testing.assert_allclose(z_of(heat), matrix, atol=1e-5)
    bound = max(float(np.abs(m[1]).max()) for m in (lt.q, lt.k, lt.v))
    axis = spec["layout"]["coloraxis"]
    assert axis["cmin"] == pytest.approx(-bound, rel=1e-4) and axis["cmax"] == pytest.approx(bound, rel=1e-4)
    assert axis["cmid"] == 0
    assert [a["text"] for a in spec["layout"]["annotations"]] == [
        f"{name} = X·W<sup>{name.lower()}</sup>ᵀ + bias  [7 × 32]" for name in "QKV"
    ]
    assert "matches" not in spec["layout"]["yaxis"] and spec["layout"]["yaxis2"]["matches"] == "y"  # shared rows
    assert spec["layout"]["yaxis2"]["showticklabels"] is False


@pytest.mark.models
def test_hiding_special_tokens_keeps_the_rest_unless_nothing_is_left(trace):
    assert axis_of(trace, False).positions.tolist() == list(range(7))  # [CLS] i saw a saw . [SEP]
    assert axis_of(trace, True).positions.tolist() == [1, 2, 3, 4, 5]
    only_special = dataclasses.replace(trace, special=(True,) * trace.n_positions)
    assert axis_of(only_special, True).positions.tolist() == list(range(7))


# ── The page ──────────────────────────────────────────────────────────────────────────────────────


def all_titles(at: AppTest) -> str:
    texts = []
    for spec in specs(at):
        texts.append(spec["layout"].get("title", {}).get("text", ""))
        texts += [a["text"] for a in spec["layout"].get("annotations", [])]
    return "\n".join(texts)


def test_the_view_shows_q_k_v_and_scores_with_their_shapes():
    at = run_app("qkv", text="I saw a saw.")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2, "the weights wait in their own tab"
    titles = all_titles(at)
    for name in "QKV":
        assert f"{name} = X·W<sup>{name.lower()}</sup>ᵀ + bias  [7 × 32]" in titles
    assert "[7 × 7]" in titles and "layer 3 · head 1" in titles
    assert specs(at)[0]["data"][0]["y"] == ["0 [CLS]", "1 i", "2 saw", "3 a", "4 saw", "5 .", "6 [SEP]"]
    assert len(at.get("download_button")) == 8
    assert any("W^q·aᵢ" in m.value for m in at.markdown)


def test_hiding_special_tokens_drops_their_rows_and_columns():
    at = run_app("qkv", text="I saw a saw", hide_special="1")
    assert not at.exception
    qkv_spec, scores_spec = specs(at)
    assert qkv_spec["data"][0]["y"] == ["1 i", "2 saw", "3 a", "4 saw"]
    assert scores_spec["data"][0]["x"] == ["1 i", "2 saw", "3 a", "4 saw"]
    assert "[4 × 32]" in all_titles(at) and "[4 × 4]" in all_titles(at)


def test_the_weights_tab_draws_the_three_slices():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["view"] = "qkv"
    at.query_params["head"] = "2"
    at.session_state["qkv_tab"] = t("en", "qkv.tab_weights")
    at.run()
    assert not at.exception and not at.error
    (spec,) = specs(at)
    assert [z_of(trace).shape for trace in spec["data"]] == [(32, 384)] * 3
    assert "rows 64–95  [32 × 384]" in all_titles(at)
    layout = spec["layout"]
    assert layout["xaxis2"]["matches"] == layout["xaxis3"]["matches"] == "x"  # one column axis, labelled once
    assert not layout["xaxis"]["showticklabels"] and layout["xaxis3"]["showticklabels"]


def test_chinese_qkv():
    at = run_app("qkv", lang="zh")
    assert not at.exception and not at.error
    assert "层 3 · 头 1" in all_titles(at)
    assert any("每个词元向量" in m.value for m in at.markdown)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_smollm2_s_titles_and_captions_write_its_own_formulas(lang):
    """RoPE(RMSNorm(X)·W^qᵀ), not X·W^qᵀ; and a feature of qᵢ is not one row's dot product with aᵢ once RoPE has
    mixed the pair (f, f + d_head/2) (issue 20, item 3)."""
    model = "SmolLM2-135M-Instruct"
    at = run_app("qkv", model=model, text="I saw a saw.", lang=lang)
    assert not at.exception and not at.error
    titles = all_titles(at)
    assert "Q = RoPE(RMSNorm(X)·W<sup>q</sup>ᵀ)  [" in titles and "K = RoPE(RMSNorm(X)·W<sup>k</sup>ᵀ)  [" in titles
    assert "V = RMSNorm(X)·W<sup>v</sup>ᵀ  [" in titles
    assert any("qᵢ = RoPEᵢ(W^q·RMSNorm(aᵢ))" in m.value for m in at.markdown)
    weights = AppTest.from_file(APP, default_timeout=120)
    weights.query_params.update({"view": "qkv", "model": model, "text": "I saw a saw.", "lang": lang})
    weights.session_state["qkv_tab"] = t(lang, "qkv.tab_weights")
    weights.run()
    caption = next(c.value for c in weights.caption if "W^q" in c.value)
    if lang == "en":
        assert "Each feature of qᵢ is the dot product of one row with aᵢ" not in caption
        assert "(f, f + 32)" in caption and "mixes two rows" in caption
    else:
        assert "qᵢ 的每个特征，就是其中一行与 aᵢ 的点积" not in caption and "混合了两行" in caption


def test_the_encoder_s_feature_is_one_row_s_dot_product_with_its_bias():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["view"] = "qkv"
    at.session_state["qkv_tab"] = t("en", "qkv.tab_weights")
    at.run()
    assert any(
        "Each feature of qᵢ is the dot product of one row with aᵢ, plus its bias." in c.value for c in at.caption
    )
