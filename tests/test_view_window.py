"""Gemma's sliding window in the page: the slider that shrinks it re-runs the model, the Attention heatmap draws a
sliding layer's band and says what it is, a global layer says it has none, and a tampered window is refused."""

from __future__ import annotations

import numpy as np
import pytest

from model.readers.gemma3 import GEMMA3_NAME
from model.registry import load_named, trace_any
from tests.apptest import run_app, specs, z_of

pytestmark = pytest.mark.app

POEM = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


@pytest.fixture(scope="module")
def gemma():
    return load_named(GEMMA3_NAME, device="cpu")


def heatmap(at) -> dict:
    return next(s for s in specs(at) if "layer" in s["layout"]["title"]["text"] and s["data"][0]["type"] == "heatmap")


def test_a_shrunk_window_draws_its_band_and_the_model_runs_again(gemma):
    at = run_app("attention", model=GEMMA3_NAME, text=POEM, window="4", layer="0", head="0")
    assert not at.exception and not at.error
    fig = heatmap(at)
    drawn = z_of(fig["data"][0])
    expected = trace_any(gemma, POEM, window=4).layers[0].weights[0]
    np.testing.assert_allclose(drawn, expected[: drawn.shape[0], : drawn.shape[1]], atol=1e-5)
    j, i = np.meshgrid(np.arange(drawn.shape[1]), np.arange(drawn.shape[0]))
    assert np.all(drawn[(i - j >= 4) | (j > i)] == 0)  # outside the band: nothing
    (band,) = [s for s in fig["layout"]["shapes"] if s["type"] == "path"]
    assert "M0.5,3.5L0.5,4.5" in band["path"]  # query 4 no longer sees key 0
    assert any("sliding window, w = 4" in c.value for c in at.caption)
    assert at.select_slider(key="window").value == 4


def test_a_global_layer_has_no_band_and_says_so():
    at = run_app("attention", model=GEMMA3_NAME, text=POEM, window="4", layer="5", head="0")
    assert not at.exception
    assert not [s for s in heatmap(at)["layout"].get("shapes", []) if s["type"] == "path"]
    assert any("global layer" in c.value for c in at.caption)


def test_the_window_on_every_layer_reaches_the_global_ones(gemma):
    at = run_app("attention", model=GEMMA3_NAME, text=POEM, window="2", window_layers="all", layer="5", head="0")
    assert not at.exception
    drawn = z_of(heatmap(at)["data"][0])
    expected = trace_any(gemma, POEM, window=2, window_layers="all").layers[5].weights[0]
    np.testing.assert_allclose(drawn, expected[: drawn.shape[0], : drawn.shape[1]], atol=1e-5)
    assert [s for s in heatmap(at)["layout"]["shapes"] if s["type"] == "path"]


def test_its_own_window_wider_than_the_text_hides_nothing():
    at = run_app("attention", model=GEMMA3_NAME, text=POEM, layer="0")
    assert not at.exception
    assert not [s for s in heatmap(at)["layout"].get("shapes", []) if s["type"] == "path"]
    assert any("wider than these" in c.value for c in at.caption)


@pytest.mark.parametrize("tampered", ["5", "-3", "100000", "x"])
def test_a_tampered_window_falls_back_to_the_models_own(tampered):
    at = run_app("attention", model=GEMMA3_NAME, text=POEM, window=tampered, layer="0")
    assert not at.exception
    assert at.select_slider(key="window").value == 0


def test_a_model_without_a_window_shows_no_slider():
    at = run_app("attention", model="SmolLM2-135M-Instruct", text="The cat sat.", window="4")
    assert not at.exception
    assert not [s for s in at.select_slider if s.key == "window"]
