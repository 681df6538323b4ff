"""A long text in the Attention view, through AppTest: a window of positions small enough that every
label is drawn, picked by two range sliders or by the link, never wider than what fits."""

from __future__ import annotations

import numpy as np
import pytest

import model
from components.ui import key_capacity, row_capacity
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "birds", "sing"]
LONG = " ".join(WORDS[i % len(WORDS)] for i in range(300))  # 302 tokens with [CLS] and [SEP]


def heatmap(at) -> dict:
    return specs(at)[0]


def first_numbers(labels: list[str]) -> list[int]:
    return [int(label.split()[0]) for label in labels]


def test_a_short_sentence_is_drawn_whole_without_sliders():
    at = run_app()
    assert not [s for s in at.select_slider if s.key in ("win_q_slider", "win_k_slider")]
    assert len(heatmap(at)["data"][0]["y"]) == 16


def test_a_long_text_shows_the_first_window_with_every_label(pretrained):
    at = run_app(text=LONG)
    assert not at.exception
    rows, cols = row_capacity(False), key_capacity(False)
    spec = heatmap(at)
    trace = spec["data"][0]
    assert first_numbers(trace["y"]) == list(range(rows)) and first_numbers(trace["x"]) == list(range(cols))
    assert spec["layout"]["yaxis"]["tickvals"] == trace["y"] and spec["layout"]["xaxis"]["tickvals"] == trace["x"]
    expected = model.trace_encoder(pretrained, LONG).layers[3].weights[1][:rows, :cols]
    np.testing.assert_allclose(z_of(trace), expected, atol=1e-5)
    assert f"queries 0–{rows - 1}, keys 0–{cols - 1}" in spec["layout"]["title"]["text"]
    assert any("302 tokens" in c.value for c in at.caption)


def test_the_sliders_move_the_window_and_the_link_follows():
    at = run_app(text=LONG)
    at.select_slider(key="win_q_slider").set_value((120, 140)).run()
    at.select_slider(key="win_k_slider").set_value((5, 9)).run()
    trace = heatmap(at)["data"][0]
    assert first_numbers(trace["y"]) == list(range(120, 141)) and first_numbers(trace["x"]) == list(range(5, 10))
    assert at.query_params["win_q"] in (["120-140"], "120-140") and at.query_params["win_k"] in (["5-9"], "5-9")


def test_a_window_wider_than_fits_is_cut_to_what_fits():
    at = run_app(text=LONG, win_q="10-200", win_k="250-400")
    assert not at.exception
    rows, cols = row_capacity(False), key_capacity(False)
    trace = heatmap(at)["data"][0]
    assert first_numbers(trace["y"]) == list(range(10, 10 + rows))
    assert first_numbers(trace["x"]) == list(range(250, 250 + cols))
    assert at.select_slider(key="win_q_slider").value == (10, 10 + rows - 1)


def test_hidden_special_tokens_keep_the_labels_of_the_text():
    at = run_app(text=LONG, hide_special="1", win_q="1-5")
    trace = heatmap(at)["data"][0]
    assert first_numbers(trace["y"]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(z_of(trace).sum(axis=1) <= 1.0 + 1e-5, True)


def test_a_short_text_after_a_long_one_drops_the_window():
    at = run_app(text=LONG, win_q="100-120")
    at.text_input(key="text").input("I saw a saw.").run()
    assert not at.exception
    assert len(heatmap(at)["data"][0]["y"]) == 7
    assert "win_q" not in at.query_params
    at.text_input(key="text").input(LONG).run()
    assert first_numbers(heatmap(at)["data"][0]["y"])[0] == 0
