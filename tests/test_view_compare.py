"""The Compare view: its summary and slicing against hand computations, and the page through AppTest."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import model
from components.axis import Axis
from components.figures.compare import pair_figure
from components.views.compare import Drawn, shared_summary, shown_head
from model.readouts.analysis import later_share, same_depth, top_other
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app

RIVER, LOAN = "The bank of the river", "The bank approved the loan"


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# --- helpers -----------------------------------------------------------------------------------


def shown(tokens: tuple[str, ...], weights: list[list[float]], special: list[bool]) -> Drawn:
    labels = [f"{i} {t}" for i, t in enumerate(tokens)]
    positions = Axis(np.arange(len(tokens)), tokens, np.array(special, dtype=bool), labels, labels, hidden=False)
    return Drawn(np.array(weights), positions)


@pytest.mark.fast
def test_top_other_skips_itself_and_special_tokens():
    weights = np.array([[0.5, 0.1, 0.1, 0.3], [0.6, 0.2, 0.15, 0.05], [0.1, 0.1, 0.7, 0.1], [0.25] * 4])
    special = np.array([True, False, False, True])
    assert top_other(weights, special, 1) == 2  # 0.6 on [CLS] and 0.2 on itself are left out
    assert top_other(weights, special, 2) == 1
    assert top_other(np.eye(2), np.array([True, False]), 1) is None


@pytest.mark.fast
def test_shared_summary_pairs_first_occurrences_of_common_words():
    a = shown(("[CLS]", "the", "bank", "river", "[SEP]"), np.full((5, 5), 0.2).tolist(), [1, 0, 0, 0, 1])
    a.weights[2] = [0.5, 0.1, 0.1, 0.3, 0.0]  # bank → river
    b = shown(("[CLS]", "a", "bank", "loan", "bank", "[SEP]"), np.full((6, 6), 1 / 6).tolist(), [1, 0, 0, 0, 0, 1])
    b.weights[2] = [0.1, 0.1, 0.1, 0.6, 0.05, 0.05]  # bank → loan
    assert shared_summary(a, b) == [("bank", 2, 3, 2, 3)]
    assert shared_summary(a, shown(("x",), [[1.0]], [False])) == []


@pytest.mark.models
def test_shared_summary_lists_every_common_word_in_the_default_pair(pretrained):
    """The default pair differs in its last word only: every other word is listed, "it" (the word the pair
    is about) included, however many there are."""
    a, b = (
        shown_head(model.trace_encoder(pretrained, text), 3, 1, False, 512)
        for text in (
            "The animal didn't cross the street because it was too tired.",
            "The animal didn't cross the street because it was too wide.",
        )
    )
    words = [row[0] for row in shared_summary(a, b)]
    assert words == ["the", "animal", "didn", "t", "cross", "street", "because", "it", "was", "too"]


@pytest.mark.models
def test_shown_head_hides_special_tokens_and_renormalizes(pretrained):
    trace = model.trace_encoder(pretrained, RIVER)
    full = shown_head(trace, 3, 1, False, 512)
    np.testing.assert_array_equal(full.weights, trace.layers[3].weights[1])
    assert full.axis.tokens == trace.tokens
    hidden = shown_head(trace, 3, 1, True, 512)
    inner = trace.layers[3].weights[1][1:-1, 1:-1]  # [CLS] first, [SEP] last
    np.testing.assert_allclose(hidden.weights, inner / inner.sum(axis=1, keepdims=True), atol=1e-6)
    assert hidden.axis.tokens == trace.tokens[1:-1] and not hidden.axis.special.any()
    assert shown_head(trace, 3, 1, False, 3).weights.shape == (3, 3)


@pytest.mark.fast
def test_pair_figure_keeps_each_sentence_on_its_own_axes():
    fig = pair_figure((np.eye(2), np.eye(3)), (["0 a", "1 b"], ["0 x", "1 y", "2 z"]), ("A", "B"))
    assert [list(t.x) for t in fig.data] == [["0 a", "1 b"], ["0 x", "1 y", "2 z"]]
    assert fig.data[0].coloraxis == fig.data[1].coloraxis == "coloraxis"


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_page_draws_every_comparison(lang):
    at = run_app("compare", lang=lang)
    assert not at.exception and not at.error
    pair, causal = specs(at)  # the real decoder waits for its switch: a load and a trace the class asks for
    assert len(pair["data"]) == 2 and len(causal["data"]) == 2
    at.toggle(key="cmp_real_on").set_value(True).run()
    assert not at.exception and len(specs(at)[2]["data"]) == 2
    assert ("层 3 · 头 1" if lang == "zh" else "layer 3 · head 1") in pair["layout"]["title"]["text"]


def test_bank_in_two_sentences(pretrained):
    at = run_app("compare", text=RIVER, text_b=LOAN)
    assert not at.exception
    a, b = (z_of(t) for t in specs(at)[0]["data"])
    # The app traces on its model thread with one CPU thread, this test with torch's default: sums are added
    # in another order, so the last float32 digits may differ.
    np.testing.assert_allclose(a, model.trace_encoder(pretrained, RIVER).layers[3].weights[1], atol=1e-5)
    np.testing.assert_allclose(b, model.trace_encoder(pretrained, LOAN).layers[3].weights[1], atol=1e-5)
    summary = markdown(at)
    assert "| **bank** |" in summary and "river" in summary


def test_sentence_b_and_the_head_change_the_picture():
    at = run_app("compare")
    before = specs(at)[0]
    at.text_input(key="text_b").input("A completely different sentence").run()
    after = specs(at)[0]
    assert after != before
    at.select_slider(key="head").set_value(5).run()
    assert specs(at)[0] != after and "head 5" in specs(at)[0]["layout"]["title"]["text"]
    assert not at.exception


def test_empty_or_dirty_sentence_b_explains_itself():
    at = run_app("compare", text_b="   ")
    assert not at.exception and at.info
    assert len(at.get("plotly_chart")) == 1  # the causal comparison still draws
    at = run_app("compare", text_b="a\x07b")
    assert at.text_input(key="text_b").value == "ab"
    assert any("1" in w.value for w in at.warning)


def test_causal_mask_zeroes_the_upper_triangle():
    at = run_app("compare", text=RIVER)
    plain, causal = (z_of(t) for t in specs(at)[1]["data"])
    assert np.triu(plain, k=1).sum() > 0.1
    assert np.all(np.triu(causal, k=1) == 0)
    np.testing.assert_allclose(causal.sum(axis=1), 1.0, atol=1e-5)
    assert "0.000" in markdown(at)


def test_causal_comparison_follows_the_playground_settings():
    at = run_app("compare", pg_d_model="32", pg_n_heads="2", pg_normalizer="relu", pg_mask="window")
    assert not at.exception
    assert any("d_model = 32" in c.value and "relu" in c.value for c in at.caption)
    picker = at.get("segmented_control")[1]
    assert picker.options == ["0", "1"]
    before = specs(at)[1]
    picker.set_value(1).run()
    assert specs(at)[1] != before
    plain = z_of(specs(at)[1]["data"][0])
    assert np.triu(plain, k=1).sum() > 0, "the left panel has no mask even though the playground uses one"


@pytest.mark.parametrize(
    "text",
    ["Hello, world?!", "saw saw saw", "我看见了一把锯子", "👍🏽 🏳️‍🌈 ok", "<script>alert(1)</script>"],
)
def test_typed_sentences_give_a_picture(text):
    at = run_app("compare", text=text, text_b=text + " again", lang="zh", cmp_real_on="1")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert all("<script>" not in chart.proto.spec for chart in at.get("plotly_chart"))
    assert "<script>" not in markdown(at)


def test_a_real_decoder_looks_only_backwards_and_a_real_encoder_does_not(pretrained):
    """The real pair: the encoder's panel is the session's model (MiniLM) at the sidebar's layer and head, the
    decoder's SmolLM2 at the same relative depth; SmolLM2's α′ above the diagonal is exactly 0."""
    from model.registry import load_named, trace_any

    at = run_app("compare", text=RIVER, cmp_real_on="1")
    encoder, decoder = (z_of(t) for t in specs(at)[2]["data"])
    np.testing.assert_allclose(encoder, model.trace_encoder(pretrained, RIVER).layers[3].weights[1], atol=1e-5)
    smol = trace_any(load_named("SmolLM2-135M-Instruct", device="cpu"), RIVER)
    layer = same_depth(3, 6, smol.n_layers)
    assert layer == 17
    np.testing.assert_allclose(decoder, smol.layers[layer].weights[1], atol=1e-5)
    assert np.all(np.triu(decoder, k=1) == 0) and np.triu(encoder, k=1).sum() > 0.1
    assert later_share(smol.weights) == 0.0 and later_share(model.trace_encoder(pretrained, RIVER).weights) > 0.05


@pytest.mark.fast
def test_later_share_against_an_explicit_loop():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(5), size=(2, 3, 5))  # [layer, head, query_pos, key_pos], rows sum to 1
    loop = np.mean([weights[la, h, i, i + 1 :].sum() for la in range(2) for h in range(3) for i in range(5)])
    assert later_share(weights) == pytest.approx(loop)
    assert same_depth(0, 6, 30) == 0 and same_depth(5, 6, 30) == 29 and same_depth(29, 30, 12) == 11
