"""The Playground view: its helpers against independent computations, and the page through AppTest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.figures.common import mixing_figure
from components.playground_state import nearest, playground_config
from components.views.playground import w_o_shown
from model.experiments.playground import PlaygroundConfig, trace_playground
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app


def heatmaps(spec: dict) -> list[np.ndarray]:
    return [z_of(t) for t in spec["data"] if t["type"] == "heatmap"]


# --- helpers and figures -----------------------------------------------------------------------


@pytest.mark.fast
def test_nearest_valid_head_count():
    assert nearest(5, [1, 2, 4, 8]) == 4
    assert nearest(6, [1, 2, 4, 8]) == 4  # a tie goes to the smaller
    assert nearest(16, [1, 2, 3, 6]) == 6


@pytest.mark.fast
def test_playground_config_reads_the_settings_and_snaps_heads():
    config = playground_config({"pg_d_model": 96, "pg_n_heads": 5, "pg_mask": "causal", "pg_seed": 7})
    assert (config.d_model, config.n_heads, config.mask, config.seed) == (96, 4, "causal", 7)
    assert playground_config({}) == PlaygroundConfig()
    assert playground_config({"pg_d_model": 12}, mask="window").mask == "window"


@pytest.mark.fast
def test_w_o_on_show_is_the_one_the_model_multiplies_by():
    """output = LayerNorm(x + concat·W^O), recomputed with torch from the trace and the W^O we draw."""
    config = PlaygroundConfig(d_model=16, n_heads=4, char_tokens=True, seed=3)
    trace = trace_playground(config, "abcab")
    x = torch.from_numpy(trace.token_embeddings + trace.position_embeddings)  # [pos, d_model]
    concat = torch.from_numpy(trace.layers[0].concat)  # [pos, d_model]
    w_o = torch.from_numpy(w_o_shown(config, 0, 1).copy())  # [d_model, d_model]
    expected = F.layer_norm(x + concat @ w_o, (16,))
    np.testing.assert_allclose(trace.layers[0].output, expected.numpy(), atol=1e-5)
    np.testing.assert_array_equal(w_o_shown(config, 0, 2), w_o.numpy()[::2, ::2])


@pytest.mark.fast
def test_mixing_figure_marks_every_head_boundary():
    concat, w_o, out = np.ones((3, 12)), np.ones((12, 12)), np.ones((3, 12))
    fig = mixing_figure(concat, w_o, out, ["a", "b", "c"], d_head=4, w_dims=np.arange(12), panel_titles=("", "", ""))
    assert len(fig.data) == 3
    assert len(fig.layout.shapes) == 2 * 2  # 3 heads: 2 lines in concat, 2 in W^O


# --- the page ----------------------------------------------------------------------------------


def overview_data(at) -> dict:
    (component,) = [c for c in at.get("bidi_component") if json.loads(c.proto.json).get("n_heads")]
    return json.loads(component.proto.json)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_page_draws_one_head_every_head_and_the_mixing(lang):
    at = run_app("playground", lang=lang)
    assert not at.exception and not at.error
    head, mixing = specs(at)
    (alpha,) = heatmaps(head)
    assert len(heatmaps(mixing)) == 3
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-5)
    assert ("头 0" if lang == "zh" else "head 0 of 4") in head["layout"]["title"]["text"]
    data = overview_data(at)
    assert (data["n_layers"], data["n_heads"], data["layer"], data["head"]) == (1, 4, 0, 0)


def test_the_head_on_show_is_the_one_the_model_computed():
    text = "the cat saw the cat"
    at = run_app("playground", text=text, pg_head="2", pg_char_tokens="1")
    assert not at.exception
    (alpha,) = heatmaps(specs(at)[0])
    expected = trace_playground(PlaygroundConfig(char_tokens=True), text).layers[0].weights[2]
    np.testing.assert_allclose(alpha, expected, atol=1e-5)
    assert "head 2" in specs(at)[0]["layout"]["title"]["text"]
    assert overview_data(at)["head"] == 2


def test_every_key_is_labelled_up_to_32_tokens():
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
        "and",
        "the",
        "dog",
        "ran",
        "to",
        "the",
        "park",
        "while",
        "we",
        "ate",
        "lunch",
        "in",
        "the",
        "sun",
    ]
    text = " ".join(words + words[:10])  # 30 words, one token each: 32 tokens with [CLS] and [SEP]
    at = run_app("playground", text=text)
    head = specs(at)[0]
    labels = head["data"][0]["x"]
    assert len(labels) == 32 and head["data"][0]["y"] == labels
    assert head["layout"]["xaxis"]["tickvals"] == labels  # every key drawn, none skipped
    assert head["layout"]["yaxis"]["tickvals"] == labels


def test_d_model_change_snaps_heads_to_a_divisor_with_a_notice():
    at = run_app("playground", pg_n_heads="8")
    at.select_slider(key="pg_d_model").set_value(12).run()
    assert not at.exception
    assert at.select_slider(key="pg_n_heads").value == 6
    assert any("6" in i.value for i in at.info)
    assert overview_data(at)["n_heads"] == 6
    assert at.query_params["pg_d_model"] == "12"


def test_a_link_with_heads_that_do_not_divide_still_draws():
    at = run_app("playground", pg_d_model="7", pg_n_heads="4")
    assert not at.exception and not at.error
    # 1 and 7 divide 7 and are both 3 from 4: the tie goes to the smaller, as nearest() says.
    assert at.select_slider(key="pg_n_heads").value == 1


def test_relu_turns_the_temperature_off_and_changes_alpha():
    at = run_app("playground")
    before = specs(at)[0]
    at.get("segmented_control")[1].set_value("relu").run()  # [view, normalizer, mask]
    assert at.slider(key="pg_temperature").disabled
    assert specs(at)[0] != before
    assert not at.exception


def test_causal_mask_zeroes_the_upper_triangle_and_window_shows_its_width():
    at = run_app("playground", pg_mask="causal")
    for alpha in heatmaps(specs(at)[0]):
        assert np.all(np.triu(alpha, k=1) == 0)
    assert [w.key for w in at.number_input] == ["pg_seed"], "the width shows only for the window mask"
    at = run_app("playground", pg_mask="window", pg_window="2")
    assert at.number_input(key="pg_window").value == 2
    for alpha in heatmaps(specs(at)[0]):
        assert np.all((alpha > 0).sum(axis=1) <= 2)


def test_every_toggle_and_the_seed_change_the_picture():
    at = run_app("playground")
    seen = {json.dumps(specs(at)[0])}
    for key in ("pg_scale", "pg_positions", "pg_char_tokens"):
        at.toggle(key=key).set_value(not at.toggle(key=key).value).run()
        seen.add(json.dumps(specs(at)[0]))
    at.number_input(key="pg_seed").set_value(5).run()
    seen.add(json.dumps(specs(at)[0]))
    at.slider(key="pg_temperature").set_value(3.0).run()
    seen.add(json.dumps(specs(at)[0]))
    assert len(seen) == 6
    assert not at.exception


def test_layers_and_the_layer_on_show():
    at = run_app("playground")
    at.select_slider(key="pg_n_layers").set_value(3).run()
    at.select_slider(key="pg_layer").set_value(2).run()
    assert "2" in specs(at)[0]["layout"]["title"]["text"]
    at.select_slider(key="pg_n_layers").set_value(1).run()
    assert at.select_slider(key="pg_layer").value == 0
    assert not at.exception


def test_chinese_suggests_character_tokens_and_the_button_turns_them_on():
    at = run_app("playground", text="我看见了一把锯子")
    assert any("[UNK]" in i.value for i in at.info)
    at.button(key="pg_use_chars").click().run()
    assert at.toggle(key="pg_char_tokens").value
    labels = specs(at)[0]["data"][0]["y"]
    assert labels[:2] == ["0 我", "1 看"]
    assert not any("[UNK]" in i.value for i in at.info)


def test_settings_survive_a_visit_to_another_view():
    at = run_app("playground")
    at.select_slider(key="pg_d_model").set_value(32).run()
    at.get("segmented_control")[0].set_value("attention").run()
    at.get("segmented_control")[0].set_value("playground").run()
    assert at.select_slider(key="pg_d_model").value == 32


@pytest.mark.parametrize(
    "text",
    ["Hello, world!?", "the cat saw the cat", "😀🎉 emoji 👩‍👩‍👧", "<script>alert(1)</script>", "我看见了一把锯子"],
)
def test_typed_sentences_give_a_picture(text):
    at = run_app("playground", text=text, pg_char_tokens="1", lang="zh")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2
    assert all("<script>" not in chart.proto.spec for chart in at.get("plotly_chart"))


def test_largest_model_stays_light():
    at = run_app("playground", pg_d_model="1024", pg_n_heads="16", text="word " * 300)
    assert not at.exception
    assert all(len(chart.proto.spec) < 2_100_000 for chart in at.get("plotly_chart"))
